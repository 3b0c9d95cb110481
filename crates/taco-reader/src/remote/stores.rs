//! Where each kind of URL is read from: the object_store builders for S3 and Azure, set up
//! from the environment as each cloud's CLI would, and the parsing of their URLs.

use object_store::aws::AmazonS3Builder;

/// `text` without `scheme` (any case), if it starts with it.
pub(crate) fn strip_scheme<'t>(text: &'t str, scheme: &str) -> Option<&'t str> {
    text.get(..scheme.len())
        .filter(|s| s.eq_ignore_ascii_case(scheme))
        .map(|_| &text[scheme.len()..])
}

/// `BUCKET/KEY` split, both non-empty.
pub(crate) fn bucket_and_key(rest: &str) -> Option<(&str, &str)> {
    rest.split_once('/')
        .filter(|(b, k)| !b.is_empty() && !k.is_empty())
}

/// An Azure blob URL's account (when the URL names it), container and blob name:
/// `az://CONTAINER/BLOB`, `azure://CONTAINER/BLOB` or
/// `https://ACCOUNT.blob.core.windows.net/CONTAINER/BLOB`. `None`: not an Azure URL.
pub(crate) fn azure_parts(url: &str) -> Option<(Option<&str>, Option<&str>, &str)> {
    let short = strip_scheme(url, "az://").or_else(|| strip_scheme(url, "azure://"));
    if let Some(rest) = short {
        return Some(match bucket_and_key(rest) {
            Some((container, blob)) => (None, Some(container), blob),
            None => (None, None, ""),
        });
    }
    let rest = strip_scheme(url, "https://")?;
    let (host, path) = rest.split_once('/')?;
    let suffix = ".blob.core.windows.net";
    let account_len = host.len().checked_sub(suffix.len())?;
    if account_len == 0 || !host[account_len..].eq_ignore_ascii_case(suffix) {
        return None;
    }
    let account = &host[..account_len];
    Some(match bucket_and_key(path) {
        Some((container, blob)) => (Some(account), Some(container), blob),
        None => (Some(account), None, ""),
    })
}

/// An Azure builder from the environment: object_store's `AZURE_STORAGE_*` settings, and the
/// Azure CLI's `AZURE_STORAGE_ACCOUNT`, `AZURE_STORAGE_KEY` and
/// `AZURE_STORAGE_CONNECTION_STRING` (account, key, SAS and blob endpoint); and whether that
/// endpoint is plain `http://` (Azurite), which the client must then allow.
pub(crate) fn azure_builder_from_env() -> (object_store::azure::MicrosoftAzureBuilder, bool) {
    let mut plain_http = false;
    use object_store::azure::AzureConfigKey;
    let mut builder = object_store::azure::MicrosoftAzureBuilder::from_env();
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if let Some(account) = var("AZURE_STORAGE_ACCOUNT") {
        builder = builder.with_account(account);
    }
    if let Some(key) = var("AZURE_STORAGE_KEY") {
        builder = builder.with_access_key(key);
    }
    if let Some(connection) = var("AZURE_STORAGE_CONNECTION_STRING") {
        for part in connection.split(';') {
            let Some((name, value)) = part.split_once('=') else {
                continue;
            };
            let key = match name.trim() {
                "AccountName" => AzureConfigKey::AccountName,
                "AccountKey" => AzureConfigKey::AccessKey,
                "BlobEndpoint" => AzureConfigKey::Endpoint,
                "SharedAccessSignature" => AzureConfigKey::SasKey,
                _ => continue,
            };
            if key == AzureConfigKey::Endpoint && value.to_ascii_lowercase().starts_with("http://")
            {
                plain_http = true;
            }
            builder = builder.with_config(key, value);
        }
    }
    // object_store's own emulator switch talks plain http to Azurite too.
    plain_http |= var("AZURE_STORAGE_USE_EMULATOR").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    (builder, plain_http)
}

/// An S3 builder with object_store's own `AWS_*` settings from the environment (container
/// credentials, virtual-hosted style…), but not the ones [`super::aws::resolve`] decides with
/// the AWS CLI's precedence: credentials, region, endpoint.
pub(crate) fn s3_builder_from_other_env() -> AmazonS3Builder {
    const DECIDED: [&str; 10] = [
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "aws_token",
        "aws_region",
        "aws_default_region",
        "aws_endpoint",
        "aws_endpoint_url",
        "aws_endpoint_url_s3",
        "aws_skip_signature",
    ];
    let mut builder = AmazonS3Builder::new();
    for (key, value) in std::env::vars_os() {
        let (Some(key), Some(value)) = (key.to_str(), value.to_str()) else {
            continue;
        };
        let key = key.to_ascii_lowercase();
        if key.starts_with("aws_") && !DECIDED.contains(&key.as_str()) {
            if let Ok(config_key) = key.parse::<object_store::aws::AmazonS3ConfigKey>() {
                builder = builder.with_config(config_key, value);
            }
        }
    }
    builder
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn azure_urls_name_account_container_and_blob() {
        assert_eq!(
            azure_parts("az://c/dir/x.taco"),
            Some((None, Some("c"), "dir/x.taco"))
        );
        assert_eq!(azure_parts("AZURE://c/x"), Some((None, Some("c"), "x")));
        assert_eq!(azure_parts("az://c"), Some((None, None, "")));
        assert_eq!(
            azure_parts("https://Acct.Blob.Core.Windows.Net/c/x.taco"),
            Some((Some("Acct"), Some("c"), "x.taco"))
        );
        assert_eq!(azure_parts("https://blob.core.windows.net/c/x"), None);
        assert_eq!(azure_parts("https://example.com/c/x"), None);
        assert_eq!(azure_parts("s3://b/k"), None);
    }
}
