//! The INI dialect of Python's `configparser`, as bottle's `load_config` reads it.
//!
//! Sections `[name]`; entries `key = value` or `key: value` (split at the first `=` or `:`);
//! keys lowercased; whole-line comments starting with `#` or `;` (a `#` later in a line is
//! part of the value, as in `configparser`'s defaults); indented lines continue the previous
//! value; blank lines are ignored. An entry before any section is an error, as in Python.

use super::ConfigError;

/// One `key = value` entry of an INI file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IniEntry {
    /// The section it is in, as written.
    pub section: String,
    /// The key, lowercased.
    pub key: String,
    /// The value, trimmed; continuation lines joined with `\n`.
    pub value: String,
    /// The 1-based line it starts on.
    pub line: usize,
}

/// Parses INI text into its entries, in order; `origin` names the text in errors.
///
/// # Errors
///
/// [`ConfigError::Syntax`] for an entry before any section, an unclosed section header, or a
/// line that is neither a section, an entry, a comment nor a continuation.
pub fn parse_ini(text: &str, origin: &str) -> Result<Vec<IniEntry>, ConfigError> {
    let syntax = |line: usize, message: &str| ConfigError::Syntax {
        origin: origin.to_owned(),
        line,
        message: message.to_owned(),
    };
    let mut entries: Vec<IniEntry> = Vec::new();
    let mut section: Option<String> = None;
    let mut last_indent_ok = false;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            last_indent_ok = false;
            continue;
        }
        if trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let indented = raw.starts_with(' ') || raw.starts_with('\t');
        if indented && last_indent_ok {
            if let Some(last) = entries.last_mut() {
                if !last.value.is_empty() {
                    last.value.push('\n');
                }
                last.value.push_str(trimmed);
                continue;
            }
        }
        if let Some(rest) = trimmed.strip_prefix('[') {
            let name = rest
                .strip_suffix(']')
                .ok_or_else(|| syntax(number, "section header is missing its closing ']'"))?;
            section = Some(name.trim().to_owned());
            last_indent_ok = false;
            continue;
        }
        let Some(split) = trimmed.find(['=', ':']) else {
            return Err(syntax(
                number,
                "expected `key = value`, `key: value`, a [section] or a comment",
            ));
        };
        let key = trimmed[..split].trim();
        if key.is_empty() {
            return Err(syntax(number, "entry has no key before '=' or ':'"));
        }
        let Some(section) = &section else {
            return Err(syntax(
                number,
                "entry before any section header; start the file with [canister]",
            ));
        };
        entries.push(IniEntry {
            section: section.clone(),
            key: key.to_ascii_lowercase(),
            value: trimmed[split + 1..].trim().to_owned(),
            line: number,
        });
        last_indent_ok = true;
    }
    Ok(entries)
}
