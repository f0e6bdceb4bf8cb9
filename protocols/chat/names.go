package chat

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// One spelling per name. Names are compared after case folding
// (nameKey), not after Unicode normalisation, which the standard library
// does not offer. So that two names that look the same are also the same
// name, validName refuses the spellings that display as another one
// (oneSpelling): a name must be in NFC, the form keyboards type, and must
// not use the styled or ligated duplicates of letters that NFKC would fold.
// The tables below were derived from Unicode 14.0 (Python's unicodedata);
// Go's unicode package, which the rest of the check uses, is 15.0.

// precomposedScripts are the scripts whose accented letters exist
// precomposed: after a letter (or digit, symbol, space) of these, a
// combining mark is refused, whether or not the pair has a precomposed
// form ("ê" + U+0323 is "ệ" spelled otherwise, marks out of order).
var precomposedScripts = []*unicode.RangeTable{
	unicode.Latin, unicode.Greek, unicode.Cyrillic, unicode.Hiragana,
	unicode.Katakana, unicode.Common,
}

// notInName holds the characters refused in a name wherever they are:
// those that never appear in NFC (NFC replaces them: the Ohm, Kelvin and
// Angstrom signs, the CJK compatibility ideographs, the Greek letters with
// oxia, the Devanagari, Bengali, Gurmukhi, Oriya and Tibetan letters with
// nukta, the Hebrew presentation forms...), the mathematical and other
// <font> variants of letters and digits ("ann" in sans-serif), and the
// letter ligatures ("fi", "IJ").
var notInName = &unicode.RangeTable{
	R16: []unicode.Range16{
		{0x0132, 0x0133, 1},
		{0x0340, 0x0341, 1},
		{0x0343, 0x0344, 1},
		{0x0374, 0x0374, 1},
		{0x037e, 0x037e, 1},
		{0x0387, 0x0387, 1},
		{0x0587, 0x0587, 1},
		{0x0958, 0x095f, 1},
		{0x09dc, 0x09dd, 1},
		{0x09df, 0x09df, 1},
		{0x0a33, 0x0a33, 1},
		{0x0a36, 0x0a36, 1},
		{0x0a59, 0x0a5b, 1},
		{0x0a5e, 0x0a5e, 1},
		{0x0b5c, 0x0b5d, 1},
		{0x0f43, 0x0f43, 1},
		{0x0f4d, 0x0f4d, 1},
		{0x0f52, 0x0f52, 1},
		{0x0f57, 0x0f57, 1},
		{0x0f5c, 0x0f5c, 1},
		{0x0f69, 0x0f69, 1},
		{0x0f73, 0x0f73, 1},
		{0x0f75, 0x0f76, 1},
		{0x0f78, 0x0f78, 1},
		{0x0f81, 0x0f81, 1},
		{0x0f93, 0x0f93, 1},
		{0x0f9d, 0x0f9d, 1},
		{0x0fa2, 0x0fa2, 1},
		{0x0fa7, 0x0fa7, 1},
		{0x0fac, 0x0fac, 1},
		{0x0fb9, 0x0fb9, 1},
		{0x1f71, 0x1f71, 1},
		{0x1f73, 0x1f73, 1},
		{0x1f75, 0x1f75, 1},
		{0x1f77, 0x1f77, 1},
		{0x1f79, 0x1f79, 1},
		{0x1f7b, 0x1f7b, 1},
		{0x1f7d, 0x1f7d, 1},
		{0x1fbb, 0x1fbb, 1},
		{0x1fbe, 0x1fbe, 1},
		{0x1fc9, 0x1fc9, 1},
		{0x1fcb, 0x1fcb, 1},
		{0x1fd3, 0x1fd3, 1},
		{0x1fdb, 0x1fdb, 1},
		{0x1fe3, 0x1fe3, 1},
		{0x1feb, 0x1feb, 1},
		{0x1fee, 0x1fef, 1},
		{0x1ff9, 0x1ff9, 1},
		{0x1ffb, 0x1ffb, 1},
		{0x1ffd, 0x1ffd, 1},
		{0x2000, 0x2001, 1},
		{0x2102, 0x2102, 1},
		{0x210a, 0x2113, 1},
		{0x2115, 0x2115, 1},
		{0x2119, 0x211d, 1},
		{0x2124, 0x2124, 1},
		{0x2126, 0x2126, 1},
		{0x2128, 0x2128, 1},
		{0x212a, 0x212d, 1},
		{0x212f, 0x2131, 1},
		{0x2133, 0x2134, 1},
		{0x2139, 0x2139, 1},
		{0x213c, 0x2140, 1},
		{0x2145, 0x2149, 1},
		{0x2329, 0x232a, 1},
		{0x2adc, 0x2adc, 1},
		{0xf900, 0xfa0d, 1},
		{0xfa10, 0xfa10, 1},
		{0xfa12, 0xfa12, 1},
		{0xfa15, 0xfa1e, 1},
		{0xfa20, 0xfa20, 1},
		{0xfa22, 0xfa22, 1},
		{0xfa25, 0xfa26, 1},
		{0xfa2a, 0xfa6d, 1},
		{0xfa70, 0xfad9, 1},
		{0xfb00, 0xfb06, 1},
		{0xfb13, 0xfb17, 1},
		{0xfb1d, 0xfb1d, 1},
		{0xfb1f, 0xfb36, 1},
		{0xfb38, 0xfb3c, 1},
		{0xfb3e, 0xfb3e, 1},
		{0xfb40, 0xfb41, 1},
		{0xfb43, 0xfb44, 1},
		{0xfb46, 0xfb4f, 1},
	},
	R32: []unicode.Range32{
		{0x1d15e, 0x1d164, 1},
		{0x1d1bb, 0x1d1c0, 1},
		{0x1d400, 0x1d454, 1},
		{0x1d456, 0x1d49c, 1},
		{0x1d49e, 0x1d49f, 1},
		{0x1d4a2, 0x1d4a2, 1},
		{0x1d4a5, 0x1d4a6, 1},
		{0x1d4a9, 0x1d4ac, 1},
		{0x1d4ae, 0x1d4b9, 1},
		{0x1d4bb, 0x1d4bb, 1},
		{0x1d4bd, 0x1d4c3, 1},
		{0x1d4c5, 0x1d505, 1},
		{0x1d507, 0x1d50a, 1},
		{0x1d50d, 0x1d514, 1},
		{0x1d516, 0x1d51c, 1},
		{0x1d51e, 0x1d539, 1},
		{0x1d53b, 0x1d53e, 1},
		{0x1d540, 0x1d544, 1},
		{0x1d546, 0x1d546, 1},
		{0x1d54a, 0x1d550, 1},
		{0x1d552, 0x1d6a5, 1},
		{0x1d6a8, 0x1d7cb, 1},
		{0x1d7ce, 0x1d7ff, 1},
		{0x1ee00, 0x1ee03, 1},
		{0x1ee05, 0x1ee1f, 1},
		{0x1ee21, 0x1ee22, 1},
		{0x1ee24, 0x1ee24, 1},
		{0x1ee27, 0x1ee27, 1},
		{0x1ee29, 0x1ee32, 1},
		{0x1ee34, 0x1ee37, 1},
		{0x1ee39, 0x1ee39, 1},
		{0x1ee3b, 0x1ee3b, 1},
		{0x1ee42, 0x1ee42, 1},
		{0x1ee47, 0x1ee47, 1},
		{0x1ee49, 0x1ee49, 1},
		{0x1ee4b, 0x1ee4b, 1},
		{0x1ee4d, 0x1ee4f, 1},
		{0x1ee51, 0x1ee52, 1},
		{0x1ee54, 0x1ee54, 1},
		{0x1ee57, 0x1ee57, 1},
		{0x1ee59, 0x1ee59, 1},
		{0x1ee5b, 0x1ee5b, 1},
		{0x1ee5d, 0x1ee5d, 1},
		{0x1ee5f, 0x1ee5f, 1},
		{0x1ee61, 0x1ee62, 1},
		{0x1ee64, 0x1ee64, 1},
		{0x1ee67, 0x1ee6a, 1},
		{0x1ee6c, 0x1ee72, 1},
		{0x1ee74, 0x1ee77, 1},
		{0x1ee79, 0x1ee7c, 1},
		{0x1ee7e, 0x1ee7e, 1},
		{0x1ee80, 0x1ee89, 1},
		{0x1ee8b, 0x1ee9b, 1},
		{0x1eea1, 0x1eea3, 1},
		{0x1eea5, 0x1eea9, 1},
		{0x1eeab, 0x1eebb, 1},
		{0x1fbf0, 0x1fbf9, 1},
		{0x2f800, 0x2fa1d, 1},
	},
}

// composingPairs are base<<21 | mark for the pairs that NFC composes into
// one character, in the scripts not in precomposedScripts (sorted): a name
// holding one is not in NFC.
var composingPairs = []uint64{
	0x0627<<21 | 0x0653,   // ARABIC LETTER ALEF + ARABIC MADDAH ABOVE
	0x0627<<21 | 0x0654,   // ARABIC LETTER ALEF + ARABIC HAMZA ABOVE
	0x0627<<21 | 0x0655,   // ARABIC LETTER ALEF + ARABIC HAMZA BELOW
	0x0648<<21 | 0x0654,   // ARABIC LETTER WAW + ARABIC HAMZA ABOVE
	0x064a<<21 | 0x0654,   // ARABIC LETTER YEH + ARABIC HAMZA ABOVE
	0x06c1<<21 | 0x0654,   // ARABIC LETTER HEH GOAL + ARABIC HAMZA ABOVE
	0x06d2<<21 | 0x0654,   // ARABIC LETTER YEH BARREE + ARABIC HAMZA ABOVE
	0x06d5<<21 | 0x0654,   // ARABIC LETTER AE + ARABIC HAMZA ABOVE
	0x0928<<21 | 0x093c,   // DEVANAGARI LETTER NA + DEVANAGARI SIGN NUKTA
	0x0930<<21 | 0x093c,   // DEVANAGARI LETTER RA + DEVANAGARI SIGN NUKTA
	0x0933<<21 | 0x093c,   // DEVANAGARI LETTER LLA + DEVANAGARI SIGN NUKTA
	0x09c7<<21 | 0x09be,   // BENGALI VOWEL SIGN E + BENGALI VOWEL SIGN AA
	0x09c7<<21 | 0x09d7,   // BENGALI VOWEL SIGN E + BENGALI AU LENGTH MARK
	0x0b47<<21 | 0x0b3e,   // ORIYA VOWEL SIGN E + ORIYA VOWEL SIGN AA
	0x0b47<<21 | 0x0b56,   // ORIYA VOWEL SIGN E + ORIYA AI LENGTH MARK
	0x0b47<<21 | 0x0b57,   // ORIYA VOWEL SIGN E + ORIYA AU LENGTH MARK
	0x0b92<<21 | 0x0bd7,   // TAMIL LETTER O + TAMIL AU LENGTH MARK
	0x0bc6<<21 | 0x0bbe,   // TAMIL VOWEL SIGN E + TAMIL VOWEL SIGN AA
	0x0bc6<<21 | 0x0bd7,   // TAMIL VOWEL SIGN E + TAMIL AU LENGTH MARK
	0x0bc7<<21 | 0x0bbe,   // TAMIL VOWEL SIGN EE + TAMIL VOWEL SIGN AA
	0x0c46<<21 | 0x0c56,   // TELUGU VOWEL SIGN E + TELUGU AI LENGTH MARK
	0x0cbf<<21 | 0x0cd5,   // KANNADA VOWEL SIGN I + KANNADA LENGTH MARK
	0x0cc6<<21 | 0x0cc2,   // KANNADA VOWEL SIGN E + KANNADA VOWEL SIGN UU
	0x0cc6<<21 | 0x0cd5,   // KANNADA VOWEL SIGN E + KANNADA LENGTH MARK
	0x0cc6<<21 | 0x0cd6,   // KANNADA VOWEL SIGN E + KANNADA AI LENGTH MARK
	0x0cca<<21 | 0x0cd5,   // KANNADA VOWEL SIGN O + KANNADA LENGTH MARK
	0x0d46<<21 | 0x0d3e,   // MALAYALAM VOWEL SIGN E + MALAYALAM VOWEL SIGN AA
	0x0d46<<21 | 0x0d57,   // MALAYALAM VOWEL SIGN E + MALAYALAM AU LENGTH MARK
	0x0d47<<21 | 0x0d3e,   // MALAYALAM VOWEL SIGN EE + MALAYALAM VOWEL SIGN AA
	0x0dd9<<21 | 0x0dca,   // SINHALA VOWEL SIGN KOMBUVA + SINHALA SIGN AL-LAKUNA
	0x0dd9<<21 | 0x0dcf,   // SINHALA VOWEL SIGN KOMBUVA + SINHALA VOWEL SIGN AELA-PILLA
	0x0dd9<<21 | 0x0ddf,   // SINHALA VOWEL SIGN KOMBUVA + SINHALA VOWEL SIGN GAYANUKITTA
	0x0ddc<<21 | 0x0dca,   // SINHALA VOWEL SIGN KOMBUVA HAA AELA-PILLA + SINHALA SIGN AL-LAKUNA
	0x1025<<21 | 0x102e,   // MYANMAR LETTER U + MYANMAR VOWEL SIGN II
	0x1b05<<21 | 0x1b35,   // BALINESE LETTER AKARA + BALINESE VOWEL SIGN TEDUNG
	0x1b07<<21 | 0x1b35,   // BALINESE LETTER IKARA + BALINESE VOWEL SIGN TEDUNG
	0x1b09<<21 | 0x1b35,   // BALINESE LETTER UKARA + BALINESE VOWEL SIGN TEDUNG
	0x1b0b<<21 | 0x1b35,   // BALINESE LETTER RA REPA + BALINESE VOWEL SIGN TEDUNG
	0x1b0d<<21 | 0x1b35,   // BALINESE LETTER LA LENGA + BALINESE VOWEL SIGN TEDUNG
	0x1b11<<21 | 0x1b35,   // BALINESE LETTER OKARA + BALINESE VOWEL SIGN TEDUNG
	0x1b3a<<21 | 0x1b35,   // BALINESE VOWEL SIGN RA REPA + BALINESE VOWEL SIGN TEDUNG
	0x1b3c<<21 | 0x1b35,   // BALINESE VOWEL SIGN LA LENGA + BALINESE VOWEL SIGN TEDUNG
	0x1b3e<<21 | 0x1b35,   // BALINESE VOWEL SIGN TALING + BALINESE VOWEL SIGN TEDUNG
	0x1b3f<<21 | 0x1b35,   // BALINESE VOWEL SIGN TALING REPA + BALINESE VOWEL SIGN TEDUNG
	0x1b42<<21 | 0x1b35,   // BALINESE VOWEL SIGN PEPET + BALINESE VOWEL SIGN TEDUNG
	0x11099<<21 | 0x110ba, // KAITHI LETTER DDA + KAITHI SIGN NUKTA
	0x1109b<<21 | 0x110ba, // KAITHI LETTER DDHA + KAITHI SIGN NUKTA
	0x110a5<<21 | 0x110ba, // KAITHI LETTER BA + KAITHI SIGN NUKTA
	0x11131<<21 | 0x11127, // CHAKMA O MARK + CHAKMA VOWEL SIGN A
	0x11132<<21 | 0x11127, // CHAKMA AU MARK + CHAKMA VOWEL SIGN A
	0x11347<<21 | 0x1133e, // GRANTHA VOWEL SIGN EE + GRANTHA VOWEL SIGN AA
	0x11347<<21 | 0x11357, // GRANTHA VOWEL SIGN EE + GRANTHA AU LENGTH MARK
	0x114b9<<21 | 0x114b0, // TIRHUTA VOWEL SIGN E + TIRHUTA VOWEL SIGN AA
	0x114b9<<21 | 0x114ba, // TIRHUTA VOWEL SIGN E + TIRHUTA VOWEL SIGN SHORT E
	0x114b9<<21 | 0x114bd, // TIRHUTA VOWEL SIGN E + TIRHUTA VOWEL SIGN SHORT O
	0x115b8<<21 | 0x115af, // SIDDHAM VOWEL SIGN E + SIDDHAM VOWEL SIGN AA
	0x115b9<<21 | 0x115af, // SIDDHAM VOWEL SIGN AI + SIDDHAM VOWEL SIGN AA
	0x11935<<21 | 0x11930, // DIVES AKURU VOWEL SIGN E + DIVES AKURU VOWEL SIGN AA
}

// isConjoiningJamo reports whether r is a Hangul conjoining jamo, of which
// NFC composes the syllables that Korean text is written with: a name is
// written in syllables.
func isConjoiningJamo(r rune) bool {
	return r >= 0x1100 && r <= 0x11ff || r >= 0xa960 && r <= 0xa97f || r >= 0xd7b0 && r <= 0xd7ff
}

// oneSpelling reports whether name (valid UTF-8) holds no spelling that
// displays as another: no character of notInName, no Hangul conjoining
// jamo, no combining mark first or after a letter, digit, symbol or space
// of a precomposedScripts script, and no pair that NFC composes. Scripts
// whose marks are not all refused may still hold a name that is not in
// NFC with other marks between the pair (an Arabic letter, a shadda and a
// hamza), or marks in an order NFC would change: these are not detected.
func oneSpelling(name string) bool {
	if mixesLookAlikeScripts(name) {
		return false
	}
	var base, prev rune = -1, -1 // the last rune that is not a mark, the last rune
	for _, r := range name {
		switch {
		case unicode.Is(notInName, r) || unicode.Is(widthVariants, r) || isConjoiningJamo(r):
			return false
		case unicode.In(r, unicode.M):
			if base < 0 || unicode.In(base, precomposedScripts...) {
				return false
			}
			if _, found := slices.BinarySearch(composingPairs, uint64(prev)<<21|uint64(r)); found {
				return false
			}
		default:
			base = r
		}
		prev = r
	}
	return true
}

// widthVariants are the halfwidth and fullwidth forms (U+FF01–U+FFEE): the
// wide duplicates of ASCII ("ａnn" for "ann") and the narrow ones of
// katakana and Hangul, which NFKC folds, as it folds the styled letters of
// notInName.
var widthVariants = &unicode.RangeTable{
	R16: []unicode.Range16{{0xff01, 0xffee, 1}},
}

// mixesLookAlikeScripts reports whether name has letters of more than one
// of Latin, Greek and Cyrillic, whose alphabets share look-alike letters
// (Cyrillic "а" and Greek "ο" for Latin "a" and "o"): "pаypal" spelled with
// a Cyrillic "а" would display as "paypal" (UTS #39's mixed-script
// confusables). A name wholly in one of them ("Вася"), or one of them
// beside other scripts, digits and symbols ("Ann 日本"), is not refused; a
// name wholly in one script that looks like a name in use in another
// (Cyrillic "аре" and Latin "ape") is taken (lookKey).
func mixesLookAlikeScripts(name string) bool {
	var seen uint8
	for _, r := range name {
		switch {
		case r < utf8.RuneSelf:
			if 'a' <= r|0x20 && r|0x20 <= 'z' {
				seen |= 1
			}
		case unicode.Is(unicode.Latin, r):
			seen |= 1
		case unicode.Is(unicode.Greek, r):
			seen |= 2
		case unicode.Is(unicode.Cyrillic, r):
			seen |= 4
		}
	}
	return seen&(seen-1) != 0
}

// lookKey is the key of name in Server.looks: names that look the same,
// letter for letter, share it. It is nameKey of the name with each Greek or
// Cyrillic letter that looks like a Latin one (lookAlikes) written as that
// letter, so that a name wholly in one of these scripts cannot pass for a
// name in another ("аре" in Cyrillic for "ape", "ΗΟΡ" in Greek for "HOP").
// Case counts before folding: the Cyrillic "ВОР" looks like "BOP", but
// "вор" does not look like "bop".
func lookKey(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	for _, r := range name {
		if l, ok := lookAlikes[r]; ok {
			r = l
		}
		b.WriteRune(r)
	}
	return nameKey(b.String())
}

// lookAlikes maps the Greek and Cyrillic letters that look like a Latin
// letter in common fonts to that letter: the part of UTS #39's
// confusables (https://www.unicode.org/reports/tr39/) that concerns whole
// names in these scripts. Latin look-alikes within one script ("0" and
// "O", "l" and "I") are not folded.
var lookAlikes = map[rune]rune{
	// Cyrillic, lower case.
	'а': 'a', 'с': 'c', 'ԁ': 'd', 'е': 'e', 'һ': 'h', 'і': 'i', 'ј': 'j',
	'ӏ': 'l', 'о': 'o', 'р': 'p', 'ԛ': 'q', 'ѕ': 's', 'ԝ': 'w', 'х': 'x',
	'у': 'y', 'ү': 'y',
	// Cyrillic, upper case.
	'А': 'A', 'В': 'B', 'С': 'C', 'Е': 'E', 'Н': 'H', 'І': 'I', 'Ӏ': 'I',
	'Ј': 'J', 'К': 'K', 'М': 'M', 'О': 'O', 'Р': 'P', 'Ԛ': 'Q', 'Ѕ': 'S',
	'Т': 'T', 'Ԝ': 'W', 'Х': 'X', 'У': 'Y', 'Ү': 'Y',
	// Greek, upper case.
	'Α': 'A', 'Β': 'B', 'Ε': 'E', 'Ζ': 'Z', 'Η': 'H', 'Ι': 'I', 'Κ': 'K',
	'Μ': 'M', 'Ν': 'N', 'Ο': 'O', 'Ρ': 'P', 'Τ': 'T', 'Υ': 'Y', 'Χ': 'X',
	// Greek, lower case.
	'α': 'a', 'γ': 'y', 'ι': 'i', 'ν': 'v', 'ο': 'o', 'ρ': 'p',
}
