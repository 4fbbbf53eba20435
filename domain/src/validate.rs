//! Field rules shared by several aggregates, with Chatwoot's messages.

/// Longest name Chatwoot accepts for contacts, inboxes and users.
pub const MAX_NAME: usize = 255;

/// Trims a string and turns an empty result into `None` (Chatwoot stores
/// blank e-mails and phone numbers as null).
pub fn blank_to_none(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// A loose e-mail check: one `@`, something before it, a dot after it, no spaces.
pub fn is_email(value: &str) -> bool {
    let Some((local, domain)) = value.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !value.chars().any(char::is_whitespace)
}

/// E.164: a `+`, then 1 to 15 digits, the first not zero.
pub fn is_e164(value: &str) -> bool {
    let Some(digits) = value.strip_prefix('+') else {
        return false;
    };
    (1..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// Checks a name's length, with Chatwoot's message.
pub fn name_length(name: &str) -> Result<(), crate::DomainError> {
    if name.chars().count() > MAX_NAME {
        return Err(crate::DomainError::invalid(
            "name",
            format!("Name is too long (maximum is {MAX_NAME} characters)"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_needs_a_plus_and_up_to_fifteen_digits() {
        assert!(is_e164("+14155552671"));
        assert!(!is_e164("14155552671"));
        assert!(!is_e164("+0123"));
        assert!(!is_e164("+1234567890123456"));
        assert!(!is_e164("+1 415"));
    }

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        assert!(is_email("a@b.co"));
        assert!(!is_email("a@b"));
        assert!(!is_email("@b.co"));
        assert!(!is_email("a b@c.de"));
        assert!(!is_email("a@@b.de"));
    }

    #[test]
    fn blanks_become_none() {
        assert_eq!(blank_to_none(Some("  ")), None);
        assert_eq!(blank_to_none(Some(" x ")), Some("x".into()));
    }
}
