//! Text in a fixed-size buffer that spills to the heap, and the writers that build and cut
//! it: a leaf of the log module (it imports nothing from it), used by the line record
//! (`line.rs`), the writer, the queue's slog drain, request ids and contexts.

use std::fmt::{self, Write as _};

/// Bytes of message text kept inline in a line; longer messages go to the heap.
pub(crate) const INLINE: usize = 118;

/// Bytes of slog-provided context text kept inline (`<ipv4>-<tag> req=<generated id>` fits;
/// a long IPv6 address with a request id goes to the heap, keeping every queued line small).
pub(crate) const INLINE_CONTEXT: usize = 54;

/// The most bytes of text one line keeps (message and key-values, or a context); the rest is
/// cut and marked `…(+N bytes)`.
pub(crate) const MAX_LINE_BYTES: usize = 16 * 1024;

// Inline lengths are stored in a `u8`.
const _: () = assert!(INLINE <= 255 && INLINE_CONTEXT <= 255);

/// Text formatted into a fixed buffer, spilling to the heap when it does not fit.
pub(crate) enum Text<const N: usize = INLINE> {
    /// Up to `N` bytes, `len` of them used.
    Inline {
        /// Bytes used.
        len: u8,
        /// The bytes; `buf[..len]` is UTF-8.
        buf: [u8; N],
    },
    /// Longer text.
    Heap(Box<str>),
}

impl<const N: usize> Text<N> {
    /// Formats `args`.
    pub(crate) fn format(args: fmt::Arguments<'_>) -> Self {
        let mut builder = TextBuilder::<N>::new();
        // Writing to memory cannot fail; a failing `Display` leaves what it wrote.
        let _ = builder.write_fmt(args);
        builder.finish()
    }

    /// The text.
    pub(crate) fn as_str(&self) -> &str {
        match self {
            // Only whole `&str`s are copied in, so the bytes are UTF-8.
            Text::Inline { len, buf } => {
                std::str::from_utf8(&buf[..usize::from(*len)]).unwrap_or_default()
            }
            Text::Heap(s) => s,
        }
    }

    /// Bytes kept on the heap (0 when inline): what the default sink's queue counts.
    #[cfg(feature = "default-sink")]
    pub(crate) fn heap_bytes(&self) -> usize {
        match self {
            Text::Inline { .. } => 0,
            Text::Heap(s) => s.len(),
        }
    }
}

/// Builds a [`Text`] piece by piece (a message, then `, key: value` pairs), keeping at most
/// [`MAX_LINE_BYTES`] bytes of it and marking the cut `…(+N bytes)`.
pub(crate) struct TextBuilder<const N: usize = INLINE> {
    len: usize,
    buf: [u8; N],
    spilled: Option<String>,
    /// Bytes that may still be added.
    room: usize,
    /// Bytes cut.
    omitted: usize,
}

impl<const N: usize> TextBuilder<N> {
    pub(crate) fn new() -> Self {
        Self {
            len: 0,
            buf: [0; N],
            spilled: None,
            room: MAX_LINE_BYTES,
            omitted: 0,
        }
    }

    pub(crate) fn finish(mut self) -> Text<N> {
        if self.omitted > 0 {
            let mut marker = TextBuilder::<32>::new();
            let _ = write!(marker, "…(+{} bytes)", self.omitted);
            self.push(marker.finish().as_str());
        }
        match self.spilled {
            Some(s) => Text::Heap(s.into_boxed_str()),
            // N ≤ 255 for every instance (checked at compile time above), so it fits.
            None => Text::Inline {
                len: u8::try_from(self.len).unwrap_or(u8::MAX),
                buf: self.buf,
            },
        }
    }
}

impl<const N: usize> TextBuilder<N> {
    /// Appends `s`, whatever the room left.
    fn push(&mut self, s: &str) {
        if let Some(spilled) = &mut self.spilled {
            spilled.push_str(s);
        } else if let Some(dest) = self.buf.get_mut(self.len..self.len + s.len()) {
            dest.copy_from_slice(s.as_bytes());
            self.len += s.len();
        } else {
            let mut spilled = String::with_capacity(2 * (self.len + s.len()));
            spilled.push_str(std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default());
            spilled.push_str(s);
            self.spilled = Some(spilled);
        }
    }
}

impl<const N: usize> fmt::Write for TextBuilder<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let kept = cut(s, &mut self.room, &mut self.omitted);
        self.push(kept);
        Ok(())
    }
}

/// A writer that passes on the first `limit` bytes written to it and counts the rest.
///
/// The cut falls on a character boundary; nothing is passed on after it, so the text stays
/// a prefix of what was written.
pub(crate) struct Clipper<W> {
    inner: W,
    room: usize,
    omitted: usize,
}

impl<W: fmt::Write> Clipper<W> {
    /// Passes at most `limit` bytes on to `inner`.
    pub(crate) fn new(inner: W, limit: usize) -> Self {
        Self {
            inner,
            room: limit,
            omitted: 0,
        }
    }

    /// Bytes written past the limit.
    pub(crate) fn omitted(&self) -> usize {
        self.omitted
    }
}

impl<W: fmt::Write> fmt::Write for Clipper<W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let kept = cut(s, &mut self.room, &mut self.omitted);
        if kept.is_empty() {
            Ok(())
        } else {
            self.inner.write_str(kept)
        }
    }
}

/// The part of `s` that fits in `room` bytes (cut at a character boundary); updates `room`
/// (0 after a cut, so nothing follows it) and adds the bytes left out to `omitted`.
fn cut<'s>(s: &'s str, room: &mut usize, omitted: &mut usize) -> &'s str {
    if s.len() <= *room {
        *room -= s.len();
        return s;
    }
    let mut end = *room;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    *room = 0;
    *omitted += s.len() - end;
    &s[..end]
}
