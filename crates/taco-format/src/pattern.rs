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

    /// Whether `name` matches, or lies under a directory that matches.
    pub fn matches(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        if self.matches_chars(&name) {
            return true;
        }
        // Every directory `name` lies in: `a/b/c` is in `a` and `a/b`.
        (0..name.len())
            .filter(|&i| name[i] == '/')
            .any(|i| self.matches_chars(&name[..i]) || self.matches_chars(&name[..=i]))
    }

    /// Glob matching with one point of backtracking (the last `*`), linear in practice.
    fn matches_chars(&self, name: &[char]) -> bool {
        let tokens = &self.tokens;
        let (mut t, mut n) = (0, 0);
        let mut resume: Option<(usize, usize)> = None;
        while n < name.len() {
            let step = match tokens.get(t) {
                Some(Token::Run) => {
                    resume = Some((t, n));
                    t += 1;
                    continue;
                }
                Some(Token::One) => true,
                Some(Token::Literal(c)) => *c == name[n],
                Some(Token::Class { negated, ranges }) => {
                    ranges
                        .iter()
                        .any(|&(lo, hi)| lo <= name[n] && name[n] <= hi)
                        != *negated
                }
                None => false,
            };
            if step {
                t += 1;
                n += 1;
            } else if let Some((star, from)) = resume {
                // Let the last `*` take one more character and try again from there.
                resume = Some((star, from + 1));
                t = star + 1;
                n = from + 1;
            } else {
                return false;
            }
        }
        tokens[t..].iter().all(|token| *token == Token::Run)
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
