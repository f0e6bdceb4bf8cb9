package endpoint

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"
)

// hostASCII returns host in the ASCII form DNS and TLS use: each label
// holding other characters is lowercased and Punycode-encoded with the
// "xn--" prefix (IDNA, RFC 5890–5891, as Twisted's _idnaBytes does for
// HostnameEndpoint and TLS). The ideographic full stops (U+3002, U+FF0E,
// U+FF61) separate labels too, as UTS #46 maps them. An ASCII host, or an
// IP address, is returned as it is. Not done: Unicode normalisation (NFC,
// which the standard library lacks) and UTS #46's other mappings, so a
// name must be typed in its usual, composed form.
func hostASCII(host string) (string, error) {
	if isASCII(host) {
		return host, nil
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return host, nil
	}
	host = strings.NewReplacer("\u3002", ".", "\uff0e", ".", "\uff61", ".").Replace(host)
	labels := strings.Split(host, ".")
	for i, l := range labels {
		if isASCII(l) {
			continue
		}
		a, err := labelASCII(l)
		if err != nil {
			return "", fmt.Errorf("%w: host name %q: label %q: %v", ErrInvalidValue, host, l, err)
		}
		labels[i] = a
	}
	out := strings.Join(labels, ".")
	if len(strings.TrimSuffix(out, ".")) > 253 {
		return "", fmt.Errorf("%w: host name %q is %d bytes in ASCII form (at most 253)", ErrInvalidValue, host, len(out))
	}
	return out, nil
}

// labelASCII encodes one label holding non-ASCII characters.
func labelASCII(l string) (string, error) {
	if !utf8.ValidString(l) {
		return "", errors.New("invalid UTF-8")
	}
	l = strings.ToLower(l)
	for _, r := range l {
		if r != '-' && !unicode.In(r, unicode.L, unicode.M, unicode.Nd) {
			return "", fmt.Errorf("%q is not a letter, mark, digit or '-'", r)
		}
	}
	if strings.HasPrefix(l, "-") || strings.HasSuffix(l, "-") {
		return "", errors.New("starts or ends with '-'")
	}
	if unicode.In([]rune(l)[0], unicode.M) {
		return "", errors.New("starts with a combining mark")
	}
	enc, err := punycode([]rune(l))
	if err != nil {
		return "", err
	}
	a := "xn--" + enc
	if len(a) > 63 {
		return "", fmt.Errorf("%d bytes in ASCII form (at most 63)", len(a))
	}
	return a, nil
}

// Punycode's parameters (RFC 3492, section 5).
const (
	pcBase        = 36
	pcTMin        = 1
	pcTMax        = 26
	pcSkew        = 38
	pcDamp        = 700
	pcInitialBias = 72
	pcInitialN    = 128
	pcMaxInput    = 1 << 10 // longer labels are refused before any arithmetic
)

// punycode encodes input as RFC 3492's Bootstring for IDNA (section 6.3).
func punycode(input []rune) (string, error) {
	if len(input) > pcMaxInput {
		return "", errors.New("too long")
	}
	var out []byte
	for _, r := range input {
		if r < 0x80 {
			out = append(out, byte(r))
		}
	}
	b := len(out)
	h := b
	if b > 0 {
		out = append(out, '-')
	}
	n, delta, bias := rune(pcInitialN), 0, pcInitialBias
	const maxDelta = 1 << 30
	for h < len(input) {
		m := rune(utf8.MaxRune + 1)
		for _, r := range input {
			if r >= n && r < m {
				m = r
			}
		}
		if int(m-n) > (maxDelta-delta)/(h+1) {
			return "", errors.New("punycode overflow")
		}
		delta += int(m-n) * (h + 1)
		n = m
		for _, r := range input {
			if r < n {
				if delta++; delta > maxDelta {
					return "", errors.New("punycode overflow")
				}
			}
			if r != n {
				continue
			}
			q := delta
			for k := pcBase; ; k += pcBase {
				t := k - bias
				if t < pcTMin {
					t = pcTMin
				} else if t > pcTMax {
					t = pcTMax
				}
				if q < t {
					break
				}
				out = append(out, pcDigit(t+(q-t)%(pcBase-t)))
				q = (q - t) / (pcBase - t)
			}
			out = append(out, pcDigit(q))
			bias = pcAdapt(delta, h+1, h == b)
			delta = 0
			h++
		}
		delta++
		n++
	}
	return string(out), nil
}

func pcDigit(d int) byte {
	if d < 26 {
		return byte('a' + d)
	}
	return byte('0' + d - 26)
}

func pcAdapt(delta, numPoints int, first bool) int {
	if first {
		delta /= pcDamp
	} else {
		delta /= 2
	}
	delta += delta / numPoints
	k := 0
	for delta > ((pcBase-pcTMin)*pcTMax)/2 {
		delta /= pcBase - pcTMin
		k += pcBase
	}
	return k + (pcBase-pcTMin+1)*delta/(delta+pcSkew)
}
