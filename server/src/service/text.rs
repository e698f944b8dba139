//! Bounding user-supplied text.

/// `s` cut to at most `max` bytes, on a character boundary.
pub fn truncate_utf8(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_on_a_character_boundary() {
        let cut = truncate_utf8("é".repeat(1000), 1023);
        assert_eq!(cut.len(), 1022);
        assert!(cut.chars().all(|c| c == 'é'));
        assert_eq!(truncate_utf8("short".to_owned(), 1023), "short");
    }
}
