//! AWS settings as the AWS CLI reads them: command-line choices first, then the environment,
//! then the selected profile of the shared config and credentials files.
//!
//! Only what a profile can say by itself is read: static keys, a session token, the region and
//! `endpoint_url`. Profiles that get their credentials elsewhere (SSO, `credential_process`,
//! an assumed role, web identity) are refused with a message saying so, rather than quietly
//! falling back to other credentials.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Choices made on the command line (or by a library caller) about S3 access; each overrides
/// the environment and the profile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsOptions {
    /// The profile to use (`--profile`), instead of `AWS_PROFILE` or `default`.
    pub profile: Option<String>,
    /// The region (`--region`).
    pub region: Option<String>,
    /// The endpoint (`--endpoint-url`), for S3-compatible stores.
    pub endpoint_url: Option<String>,
    /// Send requests unsigned (`--no-sign-request`), for public buckets.
    pub no_sign_request: bool,
}

/// The settings that apply to one S3 client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AwsSettings {
    pub(crate) access_key_id: Option<String>,
    pub(crate) secret_access_key: Option<String>,
    pub(crate) session_token: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) endpoint_url: Option<String>,
    pub(crate) no_sign_request: bool,
}

/// Profile keys naming a credential source taco does not read.
const UNSUPPORTED: [(&str, &str); 8] = [
    ("sso_session", "SSO"),
    ("sso_start_url", "SSO"),
    ("sso_account_id", "SSO"),
    ("credential_process", "credential_process"),
    ("role_arn", "an assumed role (role_arn)"),
    ("source_profile", "an assumed role (source_profile)"),
    ("credential_source", "credential_source"),
    ("web_identity_token_file", "web identity"),
];

/// Whether an `AWS_NO_SIGN_REQUEST`-style value means yes (the AWS CLI's and GDAL's
/// spellings: true, yes, 1, on; any case).
fn truthy(value: &str) -> bool {
    ["true", "yes", "1", "on"]
        .iter()
        .any(|yes| value.trim().eq_ignore_ascii_case(yes))
}

/// Reads `[section]` → key → value from an INI file as the AWS CLI writes it (`#` and `;`
/// comments, `key = value`; indented lines continue a nested block and are skipped).
fn read_ini(text: &str) -> HashMap<String, HashMap<String, String>> {
    let mut sections: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            continue; // a nested value (`s3 =` followed by indented keys)
        }
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim().to_string();
            sections.entry(name.clone()).or_default();
            current = Some(name);
            continue;
        }
        if let (Some(section), Some((key, value))) = (&current, line.split_once('=')) {
            sections
                .entry(section.clone())
                .or_default()
                .insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    sections
}

/// Where the shared files are: `AWS_CONFIG_FILE` / `AWS_SHARED_CREDENTIALS_FILE`, else under
/// `~/.aws`.
fn shared_file(env: &dyn Fn(&str) -> Option<String>, var: &str, name: &str) -> Option<PathBuf> {
    env(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|home| Path::new(&home).join(".aws").join(name)))
}

/// Resolves the settings for `options`, reading the environment through `env` and files from
/// disk.
///
/// # Errors
/// A message (for [`crate::RemoteError::BadUrl`]) when an explicitly chosen profile does not
/// exist, or the profile in use relies on a credential source taco does not read.
pub(crate) fn resolve(
    options: &AwsOptions,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<AwsSettings, String> {
    let set = |var: &str| env(var).filter(|v| !v.is_empty());
    let no_sign_request =
        options.no_sign_request || set("AWS_NO_SIGN_REQUEST").is_some_and(|v| truthy(&v));
    let explicit = options.profile.clone().or_else(|| set("AWS_PROFILE"));
    let name = explicit.clone().unwrap_or_else(|| "default".to_string());

    let read = |path: Option<PathBuf>| {
        path.and_then(|p| std::fs::read_to_string(p).ok())
            .map(|text| read_ini(&text))
            .unwrap_or_default()
    };
    let config_path = shared_file(env, "AWS_CONFIG_FILE", "config");
    let credentials_path = shared_file(env, "AWS_SHARED_CREDENTIALS_FILE", "credentials");
    let config = read(config_path.clone());
    let credentials = read(credentials_path.clone());
    let config_section = if name == "default" {
        "default".to_string()
    } else {
        format!("profile {name}")
    };
    let in_config = config.get(&config_section);
    let in_credentials = credentials.get(&name);
    if explicit.is_some() && in_config.is_none() && in_credentials.is_none() {
        let shown = |p: Option<PathBuf>| p.map_or("-".to_string(), |p| p.display().to_string());
        return Err(format!(
            "AWS profile {name:?} is in neither {} nor {}",
            shown(config_path),
            shown(credentials_path)
        ));
    }
    // The credentials file wins over the config file for the same key, as in the AWS CLI.
    let profile = |key: &str| {
        in_credentials
            .and_then(|s| s.get(key))
            .or_else(|| in_config.and_then(|s| s.get(key)))
            .filter(|v| !v.is_empty())
            .cloned()
    };

    // Keys from the environment come first unless a profile was chosen on the command line.
    let env_keys = set("AWS_ACCESS_KEY_ID").zip(set("AWS_SECRET_ACCESS_KEY"));
    let (access_key_id, secret_access_key, session_token) = match env_keys {
        Some((id, secret)) if options.profile.is_none() => {
            (Some(id), Some(secret), set("AWS_SESSION_TOKEN"))
        }
        _ => {
            let keys = profile("aws_access_key_id").zip(profile("aws_secret_access_key"));
            if keys.is_none()
                && !no_sign_request
                && (in_config.is_some() || in_credentials.is_some())
            {
                if let Some((_, what)) = UNSUPPORTED.iter().find(|(key, _)| profile(key).is_some())
                {
                    return Err(format!(
                        "AWS profile {name:?} gets its credentials from {what}, which taco does \
                         not read: export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (`aws \
                         configure export-credentials --profile {name} --format env` prints \
                         them), or use a profile with static keys"
                    ));
                }
            }
            match keys {
                Some((id, secret)) => (Some(id), Some(secret), profile("aws_session_token")),
                None => (None, None, None),
            }
        }
    };
    let region = options
        .region
        .clone()
        .or_else(|| set("AWS_REGION"))
        .or_else(|| set("AWS_DEFAULT_REGION"))
        .or_else(|| profile("region"));
    let endpoint_url = options
        .endpoint_url
        .clone()
        .or_else(|| set("AWS_ENDPOINT_URL_S3"))
        .or_else(|| set("AWS_ENDPOINT_URL"))
        .or_else(|| profile("endpoint_url"));
    Ok(AwsSettings {
        access_key_id,
        secret_access_key,
        session_token,
        region,
        endpoint_url,
        no_sign_request,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    fn home_with(config: &str, credentials: &str) -> tempfile::TempDir {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".aws")).unwrap();
        std::fs::write(home.path().join(".aws/config"), config).unwrap();
        std::fs::write(home.path().join(".aws/credentials"), credentials).unwrap();
        home
    }

    #[test]
    fn profiles_are_read_as_the_aws_cli_reads_them() {
        let home = home_with(
            "[default]\nregion = eu-west-1\n[profile work]\nregion=us-east-2\nendpoint_url = http://127.0.0.1:9000\ns3 =\n  addressing_style = path\n",
            "[default]\naws_access_key_id = AKIDEFAULT\naws_secret_access_key = s1\n# c\n[work]\naws_access_key_id=AKIWORK\naws_secret_access_key=s2\naws_session_token=tok\n",
        );
        let h = home.path().to_str().unwrap();
        let default = resolve(&AwsOptions::default(), &env_of(&[("HOME", h)])).unwrap();
        assert_eq!(default.access_key_id.as_deref(), Some("AKIDEFAULT"));
        assert_eq!(default.region.as_deref(), Some("eu-west-1"));
        let work = resolve(
            &AwsOptions::default(),
            &env_of(&[("HOME", h), ("AWS_PROFILE", "work")]),
        )
        .unwrap();
        assert_eq!(
            (work.access_key_id.as_deref(), work.session_token.as_deref()),
            (Some("AKIWORK"), Some("tok"))
        );
        assert_eq!(work.endpoint_url.as_deref(), Some("http://127.0.0.1:9000"));
        // environment keys beat AWS_PROFILE's; --profile beats the environment's
        let env = env_of(&[
            ("HOME", h),
            ("AWS_PROFILE", "work"),
            ("AWS_ACCESS_KEY_ID", "AKIENV"),
            ("AWS_SECRET_ACCESS_KEY", "s3"),
            ("AWS_REGION", "ap-south-1"),
        ]);
        let by_env = resolve(&AwsOptions::default(), &env).unwrap();
        assert_eq!(by_env.access_key_id.as_deref(), Some("AKIENV"));
        assert_eq!(by_env.region.as_deref(), Some("ap-south-1"));
        let chosen = AwsOptions {
            profile: Some("work".into()),
            region: Some("sa-east-1".into()),
            ..AwsOptions::default()
        };
        let by_flag = resolve(&chosen, &env).unwrap();
        assert_eq!(by_flag.access_key_id.as_deref(), Some("AKIWORK"));
        assert_eq!(by_flag.region.as_deref(), Some("sa-east-1"));
    }

    #[test]
    fn unknown_and_unsupported_profiles_are_refused() {
        let home = home_with(
            "[profile sso]\nsso_session = corp\n[profile proc]\ncredential_process = /bin/creds\n",
            "",
        );
        let h = home.path().to_str().unwrap();
        let missing = AwsOptions {
            profile: Some("nope".into()),
            ..AwsOptions::default()
        };
        let err = resolve(&missing, &env_of(&[("HOME", h)])).unwrap_err();
        assert!(err.contains("\"nope\" is in neither"), "{err}");
        for (name, what) in [("sso", "SSO"), ("proc", "credential_process")] {
            let err = resolve(
                &AwsOptions::default(),
                &env_of(&[("HOME", h), ("AWS_PROFILE", name)]),
            )
            .unwrap_err();
            assert!(
                err.contains(what) && err.contains("AWS_ACCESS_KEY_ID"),
                "{err}"
            );
        }
        // AWS_PROFILE=default with no files at all is simply no profile
        let empty = tempfile::tempdir().unwrap();
        let none = resolve(
            &AwsOptions::default(),
            &env_of(&[("HOME", empty.path().to_str().unwrap())]),
        )
        .unwrap();
        assert_eq!(none, AwsSettings::default());
    }

    #[test]
    fn no_sign_request_takes_the_usual_spellings() {
        for yes in ["true", "TRUE", "yes", "YES", "1", "on"] {
            let s = resolve(
                &AwsOptions::default(),
                &env_of(&[("AWS_NO_SIGN_REQUEST", yes)]),
            )
            .unwrap();
            assert!(s.no_sign_request, "{yes}");
        }
        for no in ["false", "0", "no", ""] {
            let s = resolve(
                &AwsOptions::default(),
                &env_of(&[("AWS_NO_SIGN_REQUEST", no)]),
            )
            .unwrap();
            assert!(!s.no_sign_request, "{no}");
        }
    }
}
