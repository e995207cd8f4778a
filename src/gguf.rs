//! GGUF v2/v3 reader: header, metadata, tensor table, zero-copy tensor data.
//!
//! Every count, length and offset read from the file is checked against the bytes that
//! remain before anything is allocated from it, with overflow-checked arithmetic, so a
//! truncated or hostile file gives an `Error::Gguf` and never a panic or a huge allocation.

use std::collections::BTreeMap;

use crate::error::{shown, Error, Result};

const MAGIC: &[u8; 4] = b"GGUF";
const DEFAULT_ALIGNMENT: u64 = 32;
/// Nested arrays deeper than this are rejected (recursion guard).
const MAX_ARRAY_DEPTH: usize = 8;
/// ggml tensors have at most 4 dimensions.
const MAX_DIMS: u32 = 4;
/// The most tensors a file may list (the largest real models have a few thousand); each
/// costs ~100 bytes parsed against 24 in the file.
const MAX_TENSORS: u64 = 1 << 16;
/// The most bytes the parsed metadata may take on the heap (strings, arrays, keys). The
/// largest real vocabularies (Gemma's 262k tokens, Qwen's 151k merges) take ~10 MB; a file
/// asking for more is refused before the memory is allocated.
pub const MAX_METADATA_BYTES: u64 = 64 << 20;

/// A ggml tensor element type, with its block geometry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GgmlType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q8_1,
    Q2K,
    Q3K,
    Q4K,
    Q5K,
    Q6K,
    Q8K,
    IQ4NL,
    I8,
    I16,
    I32,
    I64,
    F64,
    BF16,
}

impl GgmlType {
    pub fn from_id(id: u32) -> Option<Self> {
        use GgmlType::*;
        Some(match id {
            0 => F32,
            1 => F16,
            2 => Q4_0,
            3 => Q4_1,
            6 => Q5_0,
            7 => Q5_1,
            8 => Q8_0,
            9 => Q8_1,
            10 => Q2K,
            11 => Q3K,
            12 => Q4K,
            13 => Q5K,
            14 => Q6K,
            15 => Q8K,
            20 => IQ4NL,
            24 => I8,
            25 => I16,
            26 => I32,
            27 => I64,
            28 => F64,
            30 => BF16,
            _ => return None,
        })
    }

    pub fn id(self) -> u32 {
        use GgmlType::*;
        match self {
            F32 => 0,
            F16 => 1,
            Q4_0 => 2,
            Q4_1 => 3,
            Q5_0 => 6,
            Q5_1 => 7,
            Q8_0 => 8,
            Q8_1 => 9,
            Q2K => 10,
            Q3K => 11,
            Q4K => 12,
            Q5K => 13,
            Q6K => 14,
            Q8K => 15,
            IQ4NL => 20,
            I8 => 24,
            I16 => 25,
            I32 => 26,
            I64 => 27,
            F64 => 28,
            BF16 => 30,
        }
    }

    /// (elements per block, bytes per block)
    pub fn block(self) -> (u64, u64) {
        use GgmlType::*;
        match self {
            F32 | I32 => (1, 4),
            F16 | BF16 | I16 => (1, 2),
            I8 => (1, 1),
            I64 | F64 => (1, 8),
            Q4_0 => (32, 18),
            Q4_1 => (32, 20),
            Q5_0 => (32, 22),
            Q5_1 => (32, 24),
            Q8_0 => (32, 34),
            Q8_1 => (32, 36),
            Q2K => (256, 84),
            Q3K => (256, 110),
            Q4K => (256, 144),
            Q5K => (256, 176),
            Q6K => (256, 210),
            Q8K => (256, 292),
            IQ4NL => (32, 18),
        }
    }

    pub fn name(self) -> &'static str {
        use GgmlType::*;
        match self {
            F32 => "F32",
            F16 => "F16",
            Q4_0 => "Q4_0",
            Q4_1 => "Q4_1",
            Q5_0 => "Q5_0",
            Q5_1 => "Q5_1",
            Q8_0 => "Q8_0",
            Q8_1 => "Q8_1",
            Q2K => "Q2_K",
            Q3K => "Q3_K",
            Q4K => "Q4_K",
            Q5K => "Q5_K",
            Q6K => "Q6_K",
            Q8K => "Q8_K",
            IQ4NL => "IQ4_NL",
            I8 => "I8",
            I16 => "I16",
            I32 => "I32",
            I64 => "I64",
            F64 => "F64",
            BF16 => "BF16",
        }
    }
}

impl std::fmt::Display for GgmlType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A metadata value. Arrays are typed vectors (see `Array`) and may nest (up to
/// `MAX_ARRAY_DEPTH`).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    String(String),
    Array(Array),
}

/// A metadata array, held as compactly as the file holds it: one vector of the element
/// type (a u8 array costs one byte per element, not one `Value` each), strings as one text
/// with end offsets. Everything read is charged against `MAX_METADATA_BYTES`.
#[derive(Clone, Debug, PartialEq)]
pub enum Array {
    U8(Vec<u8>),
    I8(Vec<i8>),
    U16(Vec<u16>),
    I16(Vec<i16>),
    U32(Vec<u32>),
    I32(Vec<i32>),
    U64(Vec<u64>),
    I64(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Bool(Vec<bool>),
    String(StrArray),
    Array(Vec<Array>),
}

/// An array of strings as one text and each string's end offset in it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct StrArray {
    text: String,
    ends: Vec<usize>,
}

impl std::fmt::Debug for StrArray {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl StrArray {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, s: &str) {
        self.text.push_str(s);
        self.ends.push(self.text.len());
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.text.get(start..end)
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.len()).map(|i| self.get(i).unwrap_or(""))
    }

    /// Bytes on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.text.capacity() + self.ends.capacity() * std::mem::size_of::<usize>()
    }
}

impl<S: AsRef<str>> FromIterator<S> for StrArray {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut a = StrArray::new();
        iter.into_iter().for_each(|s| a.push(s.as_ref()));
        a
    }
}

impl Array {
    pub fn len(&self) -> usize {
        match self {
            Array::U8(v) => v.len(),
            Array::I8(v) => v.len(),
            Array::U16(v) => v.len(),
            Array::I16(v) => v.len(),
            Array::U32(v) => v.len(),
            Array::I32(v) => v.len(),
            Array::U64(v) => v.len(),
            Array::I64(v) => v.len(),
            Array::F32(v) => v.len(),
            Array::F64(v) => v.len(),
            Array::Bool(v) => v.len(),
            Array::String(v) => v.len(),
            Array::Array(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element type's name, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Array::U8(_) => "u8",
            Array::I8(_) => "i8",
            Array::U16(_) => "u16",
            Array::I16(_) => "i16",
            Array::U32(_) => "u32",
            Array::I32(_) => "i32",
            Array::U64(_) => "u64",
            Array::I64(_) => "i64",
            Array::F32(_) => "f32",
            Array::F64(_) => "f64",
            Array::Bool(_) => "bool",
            Array::String(_) => "string",
            Array::Array(_) => "array",
        }
    }

    /// The strings, if this is an array of strings.
    pub fn as_strings(&self) -> Option<&StrArray> {
        match self {
            Array::String(s) => Some(s),
            _ => None,
        }
    }

    /// Element `i` of an integer array as i128 (every GGUF integer fits); None for other
    /// element types or out of range.
    pub fn int(&self, i: usize) -> Option<i128> {
        Some(match self {
            Array::U8(v) => *v.get(i)? as i128,
            Array::I8(v) => *v.get(i)? as i128,
            Array::U16(v) => *v.get(i)? as i128,
            Array::I16(v) => *v.get(i)? as i128,
            Array::U32(v) => *v.get(i)? as i128,
            Array::I32(v) => *v.get(i)? as i128,
            Array::U64(v) => *v.get(i)? as i128,
            Array::I64(v) => *v.get(i)? as i128,
            _ => return None,
        })
    }

    /// Element `i` as a `Value` (a copy; nested arrays are cloned).
    pub fn get(&self, i: usize) -> Option<Value> {
        Some(match self {
            Array::U8(v) => Value::U8(*v.get(i)?),
            Array::I8(v) => Value::I8(*v.get(i)?),
            Array::U16(v) => Value::U16(*v.get(i)?),
            Array::I16(v) => Value::I16(*v.get(i)?),
            Array::U32(v) => Value::U32(*v.get(i)?),
            Array::I32(v) => Value::I32(*v.get(i)?),
            Array::U64(v) => Value::U64(*v.get(i)?),
            Array::I64(v) => Value::I64(*v.get(i)?),
            Array::F32(v) => Value::F32(*v.get(i)?),
            Array::F64(v) => Value::F64(*v.get(i)?),
            Array::Bool(v) => Value::Bool(*v.get(i)?),
            Array::String(v) => Value::String(v.get(i)?.to_owned()),
            Array::Array(v) => Value::Array(v.get(i)?.clone()),
        })
    }

    /// Bytes on the heap, nested arrays included.
    pub fn heap_bytes(&self) -> usize {
        fn cap<T>(v: &Vec<T>) -> usize {
            v.capacity() * std::mem::size_of::<T>()
        }
        match self {
            Array::U8(v) => cap(v),
            Array::I8(v) => cap(v),
            Array::U16(v) => cap(v),
            Array::I16(v) => cap(v),
            Array::U32(v) => cap(v),
            Array::I32(v) => cap(v),
            Array::U64(v) => cap(v),
            Array::I64(v) => cap(v),
            Array::F32(v) => cap(v),
            Array::F64(v) => cap(v),
            Array::Bool(v) => cap(v),
            Array::String(v) => v.heap_bytes(),
            Array::Array(v) => cap(v) + v.iter().map(Array::heap_bytes).sum::<usize>(),
        }
    }
}

impl From<Vec<String>> for Array {
    fn from(v: Vec<String>) -> Self {
        Array::String(v.into_iter().collect())
    }
}

impl From<Vec<&str>> for Array {
    fn from(v: Vec<&str>) -> Self {
        Array::String(v.into_iter().collect())
    }
}

impl Value {
    /// Any integer type that fits in u64 (negative values give None).
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v as u64),
            Value::U16(v) => Some(v as u64),
            Value::U32(v) => Some(v as u64),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::U64(v) => i64::try_from(v).ok(),
            Value::I8(v) => Some(v as i64),
            Value::I16(v) => Some(v as i64),
            Value::I32(v) => Some(v as i64),
            Value::I64(v) => Some(v),
            _ => self.as_u64().map(|v| v as i64),
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v as f64),
            Value::F64(v) => Some(v),
            _ => self.as_i64().map(|v| v as f64),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&Array> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The type's name, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::U8(_) => "u8",
            Value::I8(_) => "i8",
            Value::U16(_) => "u16",
            Value::I16(_) => "i16",
            Value::U32(_) => "u32",
            Value::I32(_) => "i32",
            Value::U64(_) => "u64",
            Value::I64(_) => "i64",
            Value::F32(_) => "f32",
            Value::F64(_) => "f64",
            Value::Bool(_) => "bool",
            Value::String(_) => "string",
            Value::Array(_) => "array",
        }
    }
}

/// One entry of the tensor table. `offset` is relative to the data section.
#[derive(Clone, Debug)]
pub struct TensorInfo {
    pub name: String,
    /// ggml order: dims[0] is the fastest-varying (row length).
    pub dims: Vec<u64>,
    pub ty: GgmlType,
    pub offset: u64,
    pub n_bytes: u64,
}

impl TensorInfo {
    pub fn n_elements(&self) -> u64 {
        // Checked at parse time not to overflow.
        self.dims.iter().product()
    }
}

/// A parsed GGUF file borrowing the bytes it was parsed from.
#[derive(Debug)]
pub struct Gguf<'a> {
    pub version: u32,
    pub alignment: u64,
    pub metadata: BTreeMap<String, Value>,
    pub tensors: Vec<TensorInfo>,
    /// Offset of the data section within the file.
    pub data_offset: u64,
    data: &'a [u8],
}

impl<'a> Gguf<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        let mut g: Gguf<'a> = Self::parse_table(bytes, bytes.len()).map_err(|(e, _)| e)?;
        let file_len = bytes.len() as u64;
        if g.data_offset > file_len && !g.tensors.is_empty() {
            return Err(bad(format!("data section starts at {}, past the end ({file_len} bytes)", g.data_offset)));
        }
        let data = bytes.get(g.data_offset.min(file_len) as usize..).unwrap_or(&[]);
        if let Some(t) =
            g.tensors.iter().find(|t| t.offset.checked_add(t.n_bytes).is_none_or(|e| e > data.len() as u64))
        {
            return Err(bad(format!(
                "tensor {:?} ({} bytes at data offset {}) runs past the end of the file ({} data bytes): truncated?",
                shown(&t.name),
                t.n_bytes,
                t.offset,
                data.len()
            )));
        }
        g.data = data;
        Ok(g)
    }

    /// The header (metadata and tensor table) of a file of at most `file_len` bytes of which
    /// `prefix` has arrived, or `None` when the header goes on past the prefix. Every check
    /// of `parse` but the tensors' ends is made, against `file_len`; the tensors' bytes are
    /// not held (`tensor_data` is an error): a load that streams the file (`model::Arriving`)
    /// checks each tensor's end as its bytes arrive.
    pub fn parse_header(prefix: &[u8], file_len: usize) -> Result<Option<Gguf<'static>>> {
        match Gguf::parse_table(prefix, file_len.max(prefix.len())) {
            Ok(g) => Ok(Some(g)),
            Err((_, true)) => Ok(None),
            Err((e, false)) => Err(e),
        }
    }

    /// Everything but the tensor data, read from `bytes`, the first bytes of a file of
    /// `file_len`. An error says whether it ran past `bytes` only (more may arrive).
    fn parse_table(bytes: &[u8], file_len: usize) -> std::result::Result<Gguf<'static>, (Error, bool)> {
        let mut r = Reader { buf: bytes, len: file_len, pos: 0, charged: 0, short: false };
        Self::read_table(&mut r).map_err(|e| (e, r.short))
    }

    fn read_table(r: &mut Reader) -> Result<Gguf<'static>> {
        let magic = r.take(4, "magic")?;
        if magic != MAGIC {
            return Err(bad(format!("not a GGUF file (magic {magic:02x?})")));
        }
        let version = r.u32("version")?;
        match version {
            2 | 3 => {}
            1 => return Err(Error::Unsupported("GGUF version 1 (32-bit counts); re-convert the model".into())),
            v if v.swap_bytes() == 2 || v.swap_bytes() == 3 => {
                return Err(Error::Unsupported("big-endian GGUF".into()))
            }
            v => return Err(Error::Unsupported(format!("GGUF version {v}"))),
        }
        let n_tensors = r.u64("tensor count")?;
        let n_kv = r.u64("metadata count")?;
        // A key-value pair takes at least 8 (key length) + 4 (type) + 1 bytes; a tensor
        // entry at least 8 (name length) + 4 (n_dims) + 4 (type) + 8 (offset).
        r.check_count(n_kv, 13, "metadata count")?;
        r.check_count(n_tensors, 24, "tensor count")?;
        if n_tensors > MAX_TENSORS {
            return Err(bad(format!("tensor count {n_tensors}: at most {MAX_TENSORS}")));
        }

        let mut metadata = BTreeMap::new();
        for _ in 0..n_kv {
            let key = r.string("metadata key")?;
            r.charge(std::mem::size_of::<(String, Value)>() as u64, &key)?;
            let ty = r.u32("metadata type")?;
            let value = r.value(ty, &key)?;
            if metadata.insert(key.clone(), value).is_some() {
                return Err(bad(format!("duplicate metadata key {}", shown(&key))));
            }
        }

        let alignment = match metadata.get("general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some(v) => match v.as_u64() {
                Some(a) if a > 0 && a.is_power_of_two() && a <= 1 << 20 => a,
                _ => return Err(bad(format!("general.alignment {} is not a power of two", shown(v)))),
            },
        };

        let mut tensors = Vec::with_capacity(n_tensors as usize);
        let mut names = std::collections::HashSet::new();
        for _ in 0..n_tensors {
            let name = r.string("tensor name")?;
            let n_dims = r.u32("tensor n_dims")?;
            if n_dims == 0 || n_dims > MAX_DIMS {
                return Err(bad(format!("tensor {} has {n_dims} dimensions", shown(&name))));
            }
            let mut dims = Vec::with_capacity(n_dims as usize);
            for _ in 0..n_dims {
                dims.push(r.u64("tensor dim")?);
            }
            let ty_id = r.u32("tensor type")?;
            let ty = GgmlType::from_id(ty_id).ok_or_else(|| {
                Error::Unsupported(format!("tensor {} has unknown ggml type id {ty_id}", shown(&name)))
            })?;
            let offset = r.u64("tensor offset")?;
            let n_elements = dims
                .iter()
                .try_fold(1u64, |acc, &d| acc.checked_mul(d))
                .ok_or_else(|| bad(format!("tensor {} dims {dims:?} overflow", shown(&name))))?;
            let (block_elems, block_bytes) = ty.block();
            if dims[0] % block_elems != 0 {
                return Err(bad(format!(
                    "tensor {}: row length {} is not a multiple of the {ty} block size {block_elems}",
                    shown(&name),
                    dims[0]
                )));
            }
            let n_bytes = (n_elements / block_elems)
                .checked_mul(block_bytes)
                .ok_or_else(|| bad(format!("tensor {} size overflows", shown(&name))))?;
            if offset % alignment != 0 {
                return Err(bad(format!("tensor {} offset {offset} is not aligned to {alignment}", shown(&name))));
            }
            if !names.insert(name.clone()) {
                return Err(bad(format!("duplicate tensor {}", shown(&name))));
            }
            tensors.push(TensorInfo { name, dims, ty, offset, n_bytes });
        }

        let data_offset = align_up(r.pos as u64, alignment).ok_or_else(|| bad("data offset overflows".into()))?;
        Ok(Gguf { version, alignment, metadata, tensors, data_offset, data: &[] })
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }

    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key).and_then(Value::as_u64)
    }

    pub fn get_f64(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(Value::as_f64)
    }

    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    pub fn get_bool(&self, key: &str) -> Option<bool> {
        self.get(key).and_then(Value::as_bool)
    }

    pub fn get_array(&self, key: &str) -> Option<&Array> {
        self.get(key).and_then(Value::as_array)
    }

    /// The key as an integer, or an error naming it.
    pub fn require_u64(&self, key: &str) -> Result<u64> {
        self.get_u64(key).ok_or_else(|| Error::Model(format!("missing or non-integer metadata {}", shown(key))))
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// The tensor's bytes (bounds were checked at parse time), or an error for a header
    /// parsed alone (`parse_header`), which holds none.
    pub fn tensor_data(&self, t: &TensorInfo) -> Result<&'a [u8]> {
        let range = t.offset as usize..(t.offset + t.n_bytes) as usize;
        self.data.get(range).ok_or_else(|| bad(format!("tensor {}: its bytes have not been read", shown(&t.name))))
    }

    /// Where the last tensor ends, counted from the data section (0 without tensors).
    pub fn data_end(&self) -> u64 {
        self.tensors.iter().map(|t| t.offset.saturating_add(t.n_bytes)).max().unwrap_or(0)
    }
}

fn bad(msg: String) -> Error {
    Error::Gguf(msg)
}

fn align_up(x: u64, a: u64) -> Option<u64> {
    Some(x.checked_add(a - 1)? / a * a)
}

struct Reader<'a> {
    /// The bytes at hand: the whole file, or its first bytes while it arrives.
    buf: &'a [u8],
    /// The file's length (at least `buf.len()`): counts are checked against it.
    len: usize,
    /// Set when a read ran past `buf` but not past `len`: the rest has not arrived.
    short: bool,
    pos: usize,
    /// Heap bytes of metadata materialized so far (see `MAX_METADATA_BYTES`).
    charged: u64,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.len - self.pos
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(bad(format!(
                "truncated: {what} needs {n} bytes at offset {}, {} left",
                self.pos,
                self.remaining()
            )));
        }
        if n > self.buf.len() - self.pos {
            self.short = true;
            return Err(bad(format!("{what} at offset {} has not arrived yet", self.pos)));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Rejects a count whose elements could not fit in what remains of the file, before
    /// anything is allocated from it.
    fn check_count(&self, count: u64, min_elem_bytes: u64, what: &str) -> Result<()> {
        let need = count.checked_mul(min_elem_bytes);
        if need.is_none_or(|n| n > self.remaining() as u64) {
            return Err(bad(format!(
                "{what} {count} cannot fit in the {} bytes left at offset {}",
                self.remaining(),
                self.pos
            )));
        }
        Ok(())
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// Counts `bytes` of metadata against `MAX_METADATA_BYTES` before they are allocated.
    fn charge(&mut self, bytes: u64, what: &str) -> Result<()> {
        self.charged = self.charged.saturating_add(bytes);
        if self.charged > MAX_METADATA_BYTES {
            return Err(bad(format!(
                "metadata {}: the metadata would take more than {} MiB of memory",
                shown(what),
                MAX_METADATA_BYTES >> 20
            )));
        }
        Ok(())
    }

    /// A string's bytes, checked and charged, borrowed from the file.
    fn str_bytes(&mut self, what: &str) -> Result<&'a str> {
        let len = self.u64(what)?;
        self.check_count(len, 1, what)?;
        self.charge(len, what)?;
        let pos = self.pos;
        let s = self.take(len as usize, what)?;
        std::str::from_utf8(s).map_err(|_| bad(format!("{what} at offset {pos} is not UTF-8")))
    }

    fn string(&mut self, what: &str) -> Result<String> {
        Ok(self.str_bytes(what)?.to_owned())
    }

    fn value(&mut self, ty: u32, key: &str) -> Result<Value> {
        Ok(match ty {
            0 => Value::U8(u8::from_le_bytes(self.array(key)?)),
            1 => Value::I8(i8::from_le_bytes(self.array(key)?)),
            2 => Value::U16(u16::from_le_bytes(self.array(key)?)),
            3 => Value::I16(i16::from_le_bytes(self.array(key)?)),
            4 => Value::U32(u32::from_le_bytes(self.array(key)?)),
            5 => Value::I32(i32::from_le_bytes(self.array(key)?)),
            6 => Value::F32(f32::from_le_bytes(self.array(key)?)),
            7 => Value::Bool(self.bool(key)?),
            8 => Value::String(self.string(key)?),
            9 => Value::Array(self.array_value(0, key)?),
            10 => Value::U64(u64::from_le_bytes(self.array(key)?)),
            11 => Value::I64(i64::from_le_bytes(self.array(key)?)),
            12 => Value::F64(f64::from_le_bytes(self.array(key)?)),
            t => return Err(bad(format!("metadata {}: unknown value type {t}", shown(key)))),
        })
    }

    fn bool(&mut self, key: &str) -> Result<bool> {
        match self.array::<1>(key)?[0] {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(bad(format!("metadata {}: bool byte {b}", shown(key)))),
        }
    }

    /// `count` fixed-size elements decoded by `f`, after the count is checked against the
    /// bytes left and charged.
    fn fixed<T, const N: usize>(&mut self, count: u64, key: &str, f: impl Fn([u8; N]) -> T) -> Result<Vec<T>> {
        self.check_count(count, N as u64, key)?;
        self.charge(count.saturating_mul(std::mem::size_of::<T>() as u64), key)?;
        let bytes = self.take(count as usize * N, key)?;
        Ok(bytes
            .chunks_exact(N)
            .map(|c| {
                let mut a = [0u8; N];
                a.copy_from_slice(c);
                f(a)
            })
            .collect())
    }

    /// An array's element type, count and elements (the part after the value type 9).
    fn array_value(&mut self, depth: usize, key: &str) -> Result<Array> {
        if depth >= MAX_ARRAY_DEPTH {
            return Err(bad(format!("metadata {}: arrays nested deeper than {MAX_ARRAY_DEPTH}", shown(key))));
        }
        let elem_ty = self.u32(key)?;
        let count = self.u64(key)?;
        Ok(match elem_ty {
            0 => Array::U8(self.fixed(count, key, u8::from_le_bytes)?),
            1 => Array::I8(self.fixed(count, key, i8::from_le_bytes)?),
            2 => Array::U16(self.fixed(count, key, u16::from_le_bytes)?),
            3 => Array::I16(self.fixed(count, key, i16::from_le_bytes)?),
            4 => Array::U32(self.fixed(count, key, u32::from_le_bytes)?),
            5 => Array::I32(self.fixed(count, key, i32::from_le_bytes)?),
            6 => Array::F32(self.fixed(count, key, f32::from_le_bytes)?),
            10 => Array::U64(self.fixed(count, key, u64::from_le_bytes)?),
            11 => Array::I64(self.fixed(count, key, i64::from_le_bytes)?),
            12 => Array::F64(self.fixed(count, key, f64::from_le_bytes)?),
            7 => {
                let bytes = self.fixed(count, key, |[b]: [u8; 1]| b)?;
                match bytes.iter().find(|&&b| b > 1) {
                    Some(b) => return Err(bad(format!("metadata {}: bool byte {b}", shown(key)))),
                    None => Array::Bool(bytes.into_iter().map(|b| b == 1).collect()),
                }
            }
            8 => {
                self.check_count(count, 8, key)?;
                self.charge(count.saturating_mul(std::mem::size_of::<usize>() as u64), key)?;
                let mut a = StrArray { text: String::new(), ends: Vec::with_capacity(count as usize) };
                for _ in 0..count {
                    let s = self.str_bytes(key)?;
                    a.push(s);
                }
                a.text.shrink_to_fit();
                Array::String(a)
            }
            9 => {
                // Each element: its own element type (4) and count (8).
                self.check_count(count, 12, key)?;
                self.charge(count.saturating_mul(std::mem::size_of::<Array>() as u64), key)?;
                let mut items = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    items.push(self.array_value(depth + 1, key)?);
                }
                Array::Array(items)
            }
            t => return Err(bad(format!("metadata {}: unknown array element type {t}", shown(key)))),
        })
    }
}
