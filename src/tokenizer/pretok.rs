//! llama.cpp's BPE pre-tokenizers, ported from its `unicode_regex_split` (src/unicode.cpp,
//! llama-cpp-python 0.3.36) rather than re-derived from the regexes, because llama.cpp does
//! not run the regexes it lists:
//!
//! - the GPT-2, Llama 3 and Qwen2 regexes are replaced by hand-written splitters. Each
//!   behaves like its regex with a trailing `|\s+` (the GPT-2 one in the list has none),
//!   `\s+(?!\S)` leaves the last whitespace of a run before a non-space to the next piece;
//! - the other regexes run through `std::regex` on a "collapsed" text where every non-ASCII
//!   code point is one byte standing for its category, so `\p{N}` is an ASCII digit or a
//!   non-ASCII number, and `[0-9]` is ASCII only;
//! - several regexes apply in sequence: each one splits the pieces the previous produced,
//!   and text a regex does not match stays a piece of its own.
//!
//! Categories and whitespace are llama.cpp's own tables (unicode_data.rs), not Rust's.

use super::unicode_data::{RANGE_FLAGS, RANGE_STARTS, WHITESPACE};

// llama.cpp's `unicode_cpt_flags` bits.
const NUMBER: u16 = 0x02;
const LETTER: u16 = 0x04;
const PUNCTUATION: u16 = 0x20;
const WHITESPACE_FLAG: u16 = 0x100;

/// llama.cpp's `unicode_cpt_flags_from_cpt(c).as_uint()`, less the case and NFD bits (no
/// splitter here reads them, and every code point has a category bit, so "no flags" still
/// means "out of range" exactly as there).
pub(super) fn flags(c: char) -> u16 {
    let c = c as u32;
    let i = RANGE_STARTS.partition_point(|&s| s <= c) - 1;
    let mut f = RANGE_FLAGS[i] as u16;
    if WHITESPACE.binary_search(&c).is_ok() {
        f |= WHITESPACE_FLAG;
    }
    f
}

/// One entry of a llama.cpp `regex_exprs` list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`, run by the
    /// custom GPT-2 splitter (which adds `|\s+`).
    Gpt2,
    /// The Llama 3 regex (`\p{N}{1,3}`), run by the custom Llama 3 splitter.
    Llama3,
    /// The Qwen2 regex (`\p{N}`, one digit a piece), run by the custom Qwen2 splitter.
    Qwen2,
    /// `[\p{P}\$\+<=>\^~\|]+` through `std::regex` on the collapsed text.
    PunctRuns,
    /// `\p{N}+` through `std::regex` on the collapsed text.
    Numbers,
    /// `\p{N}` through `std::regex` on the collapsed text.
    Number,
    /// `[0-9][0-9][0-9]` through `std::wregex`.
    DigitTriples,
}

/// llama.cpp's `default` pre-tokenizer (also used when `tokenizer.ggml.pre` is missing).
pub(super) const DEFAULT: &[Step] = &[Step::PunctRuns, Step::Gpt2, Step::Numbers, Step::DigitTriples];
pub(super) const GPT2: &[Step] = &[Step::Gpt2];
/// starcoder, smollm, refact, command-r, …: every number isolated, then GPT-2.
pub(super) const DIGITS_GPT2: &[Step] = &[Step::Number, Step::Gpt2];
pub(super) const LLAMA3: &[Step] = &[Step::Llama3];
pub(super) const QWEN2: &[Step] = &[Step::Qwen2];

/// Splits `text` into the words llama.cpp's `unicode_regex_split(text, steps)` returns
/// (before byte encoding), as slices of `text`.
pub(super) fn split<'a>(text: &'a str, steps: &[Step]) -> Vec<&'a str> {
    let mut starts: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    let cpts: Vec<char> = text.chars().collect();
    let fl: Vec<u16> = cpts.iter().map(|&c| flags(c)).collect();
    starts.push(text.len());

    // Piece lengths in code points, as llama.cpp's `bpe_offsets`.
    let mut offsets = vec![cpts.len()];
    for &step in steps {
        let mut out = Vec::with_capacity(offsets.len() * 2);
        let mut start = 0;
        for &len in &offsets {
            let mut seg =
                Segment { cpts: &cpts, flags: &fl, ini: start, end: start + len, prev_end: start, out: &mut out };
            match step {
                Step::Gpt2 => seg.gpt2(),
                Step::Llama3 => seg.llama3(false),
                Step::Qwen2 => seg.llama3(true),
                Step::PunctRuns => seg.runs(true, collapsed_punct),
                Step::Numbers => seg.runs(true, collapsed_number),
                Step::Number => seg.runs(false, collapsed_number),
                Step::DigitTriples => seg.digit_triples(),
            }
            start += len;
        }
        offsets = out;
    }

    let mut words = Vec::with_capacity(offsets.len());
    let mut at = 0;
    for len in offsets {
        words.push(&text[starts[at]..starts[at + len]]);
        at += len;
    }
    words
}

/// `[\p{P}\$\+<=>\^~\|]` on the collapsed text: ASCII by the character itself (every ASCII
/// punctuation or symbol but the backtick), anything else by its category.
fn collapsed_punct(c: char, f: u16) -> bool {
    if c.is_ascii() {
        matches!(c, '!'..='/' | ':'..='@' | '['..='_' | '{'..='~')
    } else {
        f & WHITESPACE_FLAG == 0 && f & 0xFF == PUNCTUATION
    }
}

/// `\p{N}` on the collapsed text.
fn collapsed_number(c: char, f: u16) -> bool {
    if c.is_ascii() {
        c.is_ascii_digit()
    } else {
        f & WHITESPACE_FLAG == 0 && f & 0xFF == NUMBER
    }
}

/// One piece being split further, as llama.cpp's splitters see it: code points and flags
/// outside `ini..end` read as out of range.
struct Segment<'a> {
    cpts: &'a [char],
    flags: &'a [u16],
    ini: usize,
    end: usize,
    prev_end: usize,
    out: &'a mut Vec<usize>,
}

impl Segment<'_> {
    fn cpt(&self, pos: usize) -> Option<char> {
        (self.ini <= pos && pos < self.end).then(|| self.cpts[pos])
    }

    fn fl(&self, pos: usize) -> u16 {
        if self.ini <= pos && pos < self.end {
            self.flags[pos]
        } else {
            0
        }
    }

    /// Ends the current piece at `end`; its length.
    fn add(&mut self, end: usize) -> usize {
        let len = end - self.prev_end;
        if len > 0 {
            self.out.push(len);
        }
        self.prev_end = end;
        len
    }

    /// `'s|'t|'re|'ve|'m|'ll|'d` at `pos` (case-insensitive for Llama 3 and Qwen2): its length.
    fn contraction(&self, pos: usize, fold: bool) -> Option<usize> {
        if self.cpt(pos) != Some('\'') || pos + 1 >= self.end {
            return None;
        }
        // llama.cpp lowercases with its own table; no non-ASCII code point lowercases to
        // one of these letters there (only U+0130 to i and U+212A to k reach ASCII).
        let low = |c: Option<char>| c.map(|c| if fold { c.to_ascii_lowercase() } else { c });
        let next = low(self.cpt(pos + 1));
        if matches!(next, Some('s' | 't' | 'm' | 'd')) {
            return Some(2);
        }
        if pos + 2 < self.end {
            let nn = low(self.cpt(pos + 2));
            if matches!((next, nn), (Some('r'), Some('e')) | (Some('v'), Some('e')) | (Some('l'), Some('l'))) {
                return Some(3);
            }
        }
        None
    }

    /// `unicode_regex_split_custom_gpt2`.
    fn gpt2(&mut self) {
        let mut pos = self.ini;
        while pos < self.end {
            let cpt = self.cpts[pos];
            if let Some(n) = self.contraction(pos, false) {
                pos += self.add(pos + n);
                continue;
            }
            let space = usize::from(cpt == ' ');
            let mut f2 = if cpt == ' ' { self.fl(pos + 1) } else { self.flags[pos] };
            // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`
            let class: Option<fn(u16) -> bool> = if f2 & LETTER != 0 {
                Some(|f| f & LETTER != 0)
            } else if f2 & NUMBER != 0 {
                Some(|f| f & NUMBER != 0)
            } else if f2 & (WHITESPACE_FLAG | LETTER | NUMBER) == 0 && f2 != 0 {
                Some(|f| f & (WHITESPACE_FLAG | LETTER | NUMBER) == 0 && f != 0)
            } else {
                None
            };
            if let Some(class) = class {
                pos += space;
                while class(f2) {
                    pos += 1;
                    f2 = self.fl(pos);
                }
                self.add(pos);
                continue;
            }
            pos = self.whitespace(pos, false);
        }
    }

    /// `unicode_regex_split_custom_llama3` (`one_digit`: `unicode_regex_split_custom_qwen2`).
    fn llama3(&mut self, one_digit: bool) {
        let mut pos = self.ini;
        while pos < self.end {
            let cpt = self.cpts[pos];
            let flags = self.flags[pos];
            if let Some(n) = self.contraction(pos, true) {
                pos += self.add(pos + n);
                continue;
            }
            // `[^\r\n\p{L}\p{N}]?\p{L}+`
            if !(cpt == '\r' || cpt == '\n' || flags & NUMBER != 0)
                && (flags & LETTER != 0 || self.fl(pos + 1) & LETTER != 0)
            {
                pos += 1;
                while self.fl(pos) & LETTER != 0 {
                    pos += 1;
                }
                self.add(pos);
                continue;
            }
            // `\p{N}{1,3}` or `\p{N}`
            if flags & NUMBER != 0 {
                if one_digit {
                    pos += 1;
                } else {
                    let mut ini = pos;
                    while self.fl(pos) & NUMBER != 0 {
                        pos += 1;
                        if pos - ini >= 3 {
                            self.add(pos);
                            ini = pos;
                        }
                    }
                }
                self.add(pos);
                continue;
            }
            // ` ?[^\s\p{L}\p{N}]+[\r\n]*` (the test on `flags`, not `f2`, is llama.cpp's)
            let mut f2 = if cpt == ' ' { self.fl(pos + 1) } else { flags };
            if f2 & (WHITESPACE_FLAG | LETTER | NUMBER) == 0 && flags != 0 {
                pos += usize::from(cpt == ' ');
                while f2 & (WHITESPACE_FLAG | LETTER | NUMBER) == 0 && f2 != 0 {
                    pos += 1;
                    f2 = self.fl(pos);
                }
                while matches!(self.cpt(pos), Some('\r' | '\n')) {
                    pos += 1;
                }
                self.add(pos);
                continue;
            }
            pos = self.whitespace(pos, true);
        }
    }

    /// The splitters' common tail at `pos`: `\s*[\r\n]+` (if `newlines`), `\s+(?!\S)`,
    /// `\s+`, else one code point alone. Returns the new position.
    fn whitespace(&mut self, mut pos: usize, newlines: bool) -> usize {
        let mut n = 0;
        let mut last_newline_end = None;
        while self.fl(pos + n) & WHITESPACE_FLAG != 0 {
            if newlines && matches!(self.cpts[pos + n], '\r' | '\n') {
                last_newline_end = Some(pos + n + 1);
            }
            n += 1;
        }
        if let Some(end) = last_newline_end {
            pos = end;
        } else if n > 1 && self.cpt(pos + n).is_some() {
            pos += n - 1;
        } else if n > 0 {
            pos += n;
        } else {
            pos += 1;
        }
        self.add(pos);
        pos
    }

    /// A class regex through `std::regex_iterator`: matches of `[class]+` (`runs`) or
    /// `[class]` are pieces, and so is each stretch between them.
    fn runs(&mut self, runs: bool, class: fn(char, u16) -> bool) {
        let mut pos = self.ini;
        while pos < self.end {
            let inside = class(self.cpts[pos], self.flags[pos]);
            pos += 1;
            if inside && !runs {
                self.add(pos);
                continue;
            }
            while pos < self.end && class(self.cpts[pos], self.flags[pos]) == inside {
                pos += 1;
            }
            self.add(pos);
        }
    }

    /// `[0-9][0-9][0-9]`: each leftmost three ASCII digits a piece, the text between too.
    fn digit_triples(&mut self) {
        let digit = |s: &Self, p: usize| s.cpt(p).is_some_and(|c| c.is_ascii_digit());
        let mut pos = self.ini;
        while pos + 3 <= self.end {
            if digit(self, pos) && digit(self, pos + 1) && digit(self, pos + 2) {
                self.add(pos);
                pos += 3;
                self.add(pos);
            } else {
                pos += 1;
            }
        }
        self.add(self.end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_llama_cpps() {
        assert_eq!(flags('a'), LETTER);
        assert_eq!(flags('7'), NUMBER);
        assert_eq!(flags(' '), 0x08 | WHITESPACE_FLAG);
        assert_eq!(flags('\n'), 0x80 | WHITESPACE_FLAG);
        assert_eq!(flags('\u{85}'), 0x80 | WHITESPACE_FLAG);
        assert_eq!(flags('日'), LETTER);
        assert_eq!(flags('²'), NUMBER);
        assert_eq!(flags('\u{301}'), 0x10);
        assert_eq!(flags('😀'), 0x40);
        assert_eq!(flags('\u{378}'), 0x01);
        assert_eq!(flags('\u{10FFFF}'), 0x01);
        assert_eq!(flags('\u{3000}'), 0x08 | WHITESPACE_FLAG);
        assert_eq!(flags('!'), PUNCTUATION);
        assert_eq!(flags('$'), 0x40);
    }

    /// Hard strings split by llama.cpp 0.3.36's `unicode_regex_split` (its libllama.so,
    /// called directly), one list per pre-tokenizer.
    const HARD: [&str; 6] = [
        "Hello, world! It's 2024-05-17 and I'm   here.\n\n\n",
        "don't DON'T we'll 'tis",
        "1234567 ١٢٣٤ ²³ $1,000",
        "  a\n\n  b \t\r\n",
        "日本語、テキスト！😀👍🏽 x",
        "a+b=c; (x) `y`",
    ];

    #[test]
    fn splits_as_llama_cpp() {
        let cases: [(&[Step], [&[&str]; 6]); 5] = [
            (
                DEFAULT,
                [
                    &[
                        "Hello", ",", " world", "!", " It", "'", "s", " ", "202", "4", "-", "05", "-", "17", " and",
                        " I", "'", "m", "  ", " here", ".", "\n\n\n",
                    ],
                    &["don", "'", "t", " DON", "'", "T", " we", "'", "ll", " ", "'", "tis"],
                    &["123", "456", "7", " ", "١٢٣٤", " ", "²³", " ", "$", "1", ",", "000"],
                    &[" ", " a", "\n\n ", " b", " \t\r\n"],
                    &["日本語", "、", "テキスト", "！", "😀👍🏽", " x"],
                    &["a", "+", "b", "=", "c", ";", " ", "(", "x", ")", " `", "y", "`"],
                ],
            ),
            (
                GPT2,
                [
                    &[
                        "Hello", ",", " world", "!", " It", "'s", " 2024", "-", "05", "-", "17", " and", " I", "'m",
                        "  ", " here", ".", "\n\n\n",
                    ],
                    &["don", "'t", " DON", "'", "T", " we", "'ll", " '", "tis"],
                    &["1234567", " ١٢٣٤", " ²³", " $", "1", ",", "000"],
                    &[" ", " a", "\n\n ", " b", " \t\r\n"],
                    &["日本語", "、", "テキスト", "！😀👍🏽", " x"],
                    &["a", "+", "b", "=", "c", ";", " (", "x", ")", " `", "y", "`"],
                ],
            ),
            (
                DIGITS_GPT2,
                [
                    &[
                        "Hello", ",", " world", "!", " It", "'s", " ", "2", "0", "2", "4", "-", "0", "5", "-", "1",
                        "7", " and", " I", "'m", "  ", " here", ".", "\n\n\n",
                    ],
                    &["don", "'t", " DON", "'", "T", " we", "'ll", " '", "tis"],
                    &[
                        "1", "2", "3", "4", "5", "6", "7", " ", "١", "٢", "٣", "٤", " ", "²", "³", " $", "1", ",", "0",
                        "0", "0",
                    ],
                    &[" ", " a", "\n\n ", " b", " \t\r\n"],
                    &["日本語", "、", "テキスト", "！😀👍🏽", " x"],
                    &["a", "+", "b", "=", "c", ";", " (", "x", ")", " `", "y", "`"],
                ],
            ),
            (
                LLAMA3,
                [
                    &[
                        "Hello", ",", " world", "!", " It", "'s", " ", "202", "4", "-", "05", "-", "17", " and", " I",
                        "'m", "  ", " here", ".\n\n\n",
                    ],
                    &["don", "'t", " DON", "'T", " we", "'ll", " '", "tis"],
                    &["123", "456", "7", " ", "١٢٣", "٤", " ", "²³", " $", "1", ",", "000"],
                    &[" ", " a", "\n\n", " ", " b", " \t\r\n"],
                    &["日本語", "、テキスト", "！😀👍🏽", " x"],
                    &["a", "+b", "=c", ";", " (", "x", ")", " `", "y", "`"],
                ],
            ),
            (
                QWEN2,
                [
                    &[
                        "Hello", ",", " world", "!", " It", "'s", " ", "2", "0", "2", "4", "-", "0", "5", "-", "1",
                        "7", " and", " I", "'m", "  ", " here", ".\n\n\n",
                    ],
                    &["don", "'t", " DON", "'T", " we", "'ll", " '", "tis"],
                    &[
                        "1", "2", "3", "4", "5", "6", "7", " ", "١", "٢", "٣", "٤", " ", "²", "³", " $", "1", ",", "0",
                        "0", "0",
                    ],
                    &[" ", " a", "\n\n", " ", " b", " \t\r\n"],
                    &["日本語", "、テキスト", "！😀👍🏽", " x"],
                    &["a", "+b", "=c", ";", " (", "x", ")", " `", "y", "`"],
                ],
            ),
        ];
        for (steps, want) in cases {
            for (text, want) in HARD.iter().zip(want) {
                assert_eq!(split(text, steps), want, "{steps:?} {text:?}");
            }
        }
    }
}
