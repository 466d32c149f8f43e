//! The byte encoding of log entries (draw spec §3): big-endian fixed-width
//! integers, 32-byte hashes raw, strings and byte strings as a u16 length
//! followed by the bytes, number lists as a u32 count followed by u32s.
//! Decoding is strict: trailing bytes, short input or bad UTF-8 are errors.

/// Why bytes do not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("entry ends early at byte {0}")]
    Truncated(usize),
    #[error("{0} trailing bytes after the entry")]
    Trailing(usize),
    #[error("a string is not UTF-8")]
    Utf8,
    #[error("unknown entry magic or kind {0:#04x}")]
    Kind(u8),
    #[error("{0}")]
    Invalid(&'static str),
}

/// Appends fields in spec order.
#[derive(Debug, Default)]
pub struct Writer(Vec<u8>);

impl Writer {
    pub fn new() -> Self {
        Writer(Vec::with_capacity(128))
    }
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn raw(&mut self, v: &[u8]) -> &mut Self {
        self.0.extend_from_slice(v);
        self
    }
    /// A byte string of at most 65,535 bytes (longer input is cut; entries never carry such).
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        let len = v.len().min(usize::from(u16::MAX));
        self.0.extend_from_slice(&(len as u16).to_be_bytes());
        self.0.extend_from_slice(&v[..len]);
        self
    }
    pub fn str(&mut self, v: &str) -> &mut Self {
        self.bytes(v.as_bytes())
    }
    pub fn numbers(&mut self, v: &[u32]) -> &mut Self {
        self.u32(u32::try_from(v.len()).unwrap_or(u32::MAX));
        for n in v {
            self.u32(*n);
        }
        self
    }
    pub fn finish(self) -> Vec<u8> {
        self.0
    }
}

/// Reads fields in spec order.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or(DecodeError::Truncated(self.pos))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }
    pub fn hash(&mut self) -> Result<[u8; 32], DecodeError> {
        let b = self.take(32)?;
        let mut a = [0u8; 32];
        a.copy_from_slice(b);
        Ok(a)
    }
    pub fn raw(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        self.take(n)
    }
    pub fn bytes(&mut self) -> Result<Vec<u8>, DecodeError> {
        let b = self.take(2)?;
        let len = usize::from(u16::from_be_bytes([b[0], b[1]]));
        Ok(self.take(len)?.to_vec())
    }
    pub fn str(&mut self) -> Result<String, DecodeError> {
        String::from_utf8(self.bytes()?).map_err(|_| DecodeError::Utf8)
    }
    pub fn numbers(&mut self) -> Result<Vec<u32>, DecodeError> {
        let count = self.u32()? as usize;
        // Each number takes 4 bytes: refuse counts the input cannot hold before allocating.
        if count > (self.buf.len() - self.pos) / 4 {
            return Err(DecodeError::Truncated(self.pos));
        }
        (0..count).map(|_| self.u32()).collect()
    }
    pub fn finish(self) -> Result<(), DecodeError> {
        match self.buf.len() - self.pos {
            0 => Ok(()),
            n => Err(DecodeError::Trailing(n)),
        }
    }
}
