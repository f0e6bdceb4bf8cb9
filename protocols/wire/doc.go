// Package wire implements the classic "small services" of RFC 862–868 on the
// weft toolkit, each as a weft.Factory whose zero value works:
//
//   - Echo (RFC 862): every byte received is sent back.
//   - FramedEcho: every frame received is sent back in the same framing
//     (line, netstring, length-prefixed, ...), using a codec.Codec.
//   - Discard (RFC 863): every byte received is dropped.
//   - Chargen (RFC 864): 72-character lines rotating through the 95 printable
//     ASCII characters, "\r\n" terminated, sent for as long as the client
//     reads. It writes through a weft.Gate: a client that never reads costs
//     about the high-water mark in buffer, never more, and is aborted once
//     the sending has stayed paused for StallTimeout (DefaultStallTimeout,
//     a minute).
//   - QOTD (RFC 865): one quote and "\r\n", then the connection is closed;
//     successive connections get successive quotes. A quote is sent as
//     given, whatever its length; QOTD.Validate reports one over RFC 865's
//     bound (MaxQuoteLength: less than 512 characters).
//   - Daytime (RFC 867): one human-readable line with the date and time, then
//     close.
//   - Time (RFC 868): the seconds since 1900-01-01 00:00 UTC as 4 big-endian
//     bytes, then close. The count is modulo 2^32: it wraps to 0 on
//     2036-02-07 06:28:16 UTC and goes on from there (RFC 868 has no more
//     bits; clients must place it in the right era).
//
// Daytime and Time take an injectable clock (Now) for tests. The one-shot
// services (QOTD, Daytime, Time) abort a connection whose client has not
// taken the reply CloseTimeout (default DefaultCloseTimeout) after it was
// written, so that a client that never reads cannot hold it.
package wire
