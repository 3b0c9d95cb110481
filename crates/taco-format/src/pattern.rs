//! Shell-style patterns that select members by name (`taco extract x.taco 'val/*'`).

use std::fmt;

/// One piece of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// This character.
    Literal(char),
    /// `?`: any one character.
    One,
    /// `*`: any run of characters, `/` included (as unzip and bsdtar match).
    Run,
    /// `[...]`: one character in (or with `!`/`^`, not in) these ranges.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A member-name pattern: `*` matches any run of characters (`/` included), `?` any one,
/// `[abc]`, `[a-z]` and `[!a]` one from a set, `\` makes the next character literal. A pattern
/// also selects everything under the directory it names: `val` and `val/` select `val/a.bin`.
///
/// ```
/// use taco_format::NamePattern;
/// let p = NamePattern::parse("val/*.tfrecord").unwrap();
/// assert!(p.matches("val/shard-0.tfrecord"));
/// assert!(!p.matches("train/shard-0.tfrecord"));
/// assert!(NamePattern::parse("val").unwrap().matches("val/sub/x.bin"));
/// assert!(NamePattern::parse("[ab").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePattern {
    text: String,
    tokens: Vec<Token>,
}

/// A pattern that cannot be read: an unclosed `[` or a trailing `\`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadPattern {
    /// The pattern as given.
    pub pattern: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

impl fmt::Display for BadPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pattern {:?}: {}", self.pattern, self.problem)
    }
}

impl std::error::Error for BadPattern {}

impl NamePattern {
    /// Reads a pattern.
    ///
    /// # Errors
    /// [`BadPattern`] for an unclosed `[` or a `\` at the end.
    pub fn parse(text: &str) -> Result<NamePattern, BadPattern> {
        let bad = |problem| BadPattern {
            pattern: text.to_string(),
            problem,
        };
        let mut tokens = Vec::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '?' => Token::One,
                '*' => {
                    // `**` means what `*` does.
                    while chars.peek() == Some(&'*') {
                        chars.next();
                    }
                    Token::Run
                }
                '\\' => Token::Literal(chars.next().ok_or_else(|| bad("ends with \\"))?),
                '[' => {
                    let negated = matches!(chars.peek(), Some('!' | '^'));
                    if negated {
                        chars.next();
                    }
                    let mut ranges = Vec::new();
                    let mut first = true;
                    loop {
                        let c = chars.next().ok_or_else(|| bad("[ is never closed"))?;
                        // A `]` right after `[` (or `[!`) is a member of the set.
                        if c == ']' && !first {
                            break;
                        }
                        first = false;
                        let c = if c == '\\' {
                            chars.next().ok_or_else(|| bad("ends with \\"))?
                        } else {
                            c
                        };
                        let mut ahead = chars.clone();
                        if ahead.next() == Some('-') && ahead.peek().is_some_and(|&e| e != ']') {
                            chars.next();
                            let end = chars.next().ok_or_else(|| bad("[ is never closed"))?;
                            ranges.push((c, end));
                        } else {
                            ranges.push((c, c));
                        }
                    }
                    Token::Class { negated, ranges }
                }
                c => Token::Literal(c),
            });
        }
        Ok(NamePattern {
            text: text.to_string(),
            tokens,
        })
    }

    /// The pattern as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `name` matches, or lies under a directory that matches. One pass over the
    /// name with the set of pattern positions reached so far: time linear in the name's
    /// length times the pattern's, whatever either holds (a hostile archive's names included).
    pub fn matches(&self, name: &str) -> bool {
        let tokens = &self.tokens;
        let mut states = vec![false; tokens.len() + 1];
        let mut next = vec![false; tokens.len() + 1];
        states[0] = true;
        self.close(&mut states);
        let accepting = |states: &[bool]| states[tokens.len()];
        for c in name.chars() {
            // The part before this `/` is a directory the name lies in.
            if c == '/' && accepting(&states) {
                return true;
            }
            next.iter_mut().for_each(|n| *n = false);
            for (t, token) in tokens.iter().enumerate() {
                if !states[t] {
                    continue;
                }
                match token {
                    Token::Run => next[t] = true,
                    Token::One => next[t + 1] = true,
                    Token::Literal(l) => next[t + 1] |= *l == c,
                    Token::Class { negated, ranges } => {
                        next[t + 1] |=
                            ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated;
                    }
                }
            }
            self.close(&mut next);
            std::mem::swap(&mut states, &mut next);
            if !states.iter().any(|&s| s) {
                return false;
            }
            // The part up to and with this `/` (`val/` names the directory too).
            if c == '/' && accepting(&states) {
                return true;
            }
        }
        accepting(&states)
    }

    /// Adds the positions reachable without reading a character: past a `*` (which may
    /// match nothing).
    fn close(&self, states: &mut [bool]) {
        for (t, token) in self.tokens.iter().enumerate() {
            if states[t] && *token == Token::Run {
                states[t + 1] = true;
            }
        }
    }
}

impl fmt::Display for NamePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::NamePattern;

    fn matches(pattern: &str, name: &str) -> bool {
        NamePattern::parse(pattern).unwrap().matches(name)
    }

    #[test]
    fn patterns_match_as_a_shell_would() {
        assert!(matches("*.png", "3/5/2.png"));
        assert!(matches("3/*/2.png", "3/5/2.png"));
        assert!(!matches("3/*/2.png", "3/5/12.png"));
        assert!(matches("3/?/2.png", "3/5/2.png"));
        assert!(!matches("3/?/2.png", "3/15/2.png"));
        assert!(matches("part-[0-3].parquet", "part-2.parquet"));
        assert!(!matches("part-[!0-3].parquet", "part-2.parquet"));
        assert!(matches("part-[!0-3].parquet", "part-5.parquet"));
        assert!(matches("[]]x", "]x"));
        assert!(matches("a\\*b", "a*b"));
        assert!(!matches("a\\*b", "axb"));
        assert!(matches("**", "anything/at/all"));
        assert!(matches("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaab"));
        assert!(!matches("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaa"));
        assert!(matches("é?", "éß"));
        assert!(!matches("", "x"));
        assert!(matches("a*b*c", "axxbyyc") && !matches("a*b*c", "axxbyy"));
        assert!(matches("*[0-9]?", "part-12") && !matches("*[0-9]?", "part-1"));
    }

    #[test]
    fn long_hostile_names_cost_linear_time() {
        // 60 000 characters with a `/` every other one: once quadratic (seconds a name).
        let name = "a/".repeat(30_000);
        let start = std::time::Instant::now();
        assert!(!NamePattern::parse("*.png").unwrap().matches(&name));
        assert!(NamePattern::parse("a*a").unwrap().matches(&name));
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn a_pattern_selects_what_lies_under_a_directory_it_names() {
        assert!(matches("val", "val/a.bin"));
        assert!(matches("val/", "val/sub/a.bin"));
        assert!(matches("v*l", "val/a.bin"));
        assert!(!matches("val", "validation/a.bin"));
        assert!(!matches("val", "train/val"));
    }

    #[test]
    fn broken_patterns_are_refused() {
        for bad in ["[ab", "x\\", "[!", "[a\\"] {
            assert!(NamePattern::parse(bad).is_err(), "{bad}");
        }
    }
}
