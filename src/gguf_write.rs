//! A small GGUF v3 writer for tests and the synthetic model.
//!
//! It writes what it is given: keys are not deduplicated and tensor data is not checked
//! against the declared dims/type, so tests can build malformed files with it too.
//! Layout follows llama.cpp's `gguf_write_to_buf`: header, key-values, tensor infos, zero
//! padding to the alignment, then each tensor's data padded to the alignment.

use crate::gguf::{Array, GgmlType, Gguf, Value};

const DEFAULT_ALIGNMENT: u64 = 32;

#[derive(Clone, Debug)]
struct Tensor {
    name: String,
    dims: Vec<u64>,
    ty: GgmlType,
    data: Vec<u8>,
}

#[derive(Clone, Debug)]
pub struct GgufWriter {
    alignment: u64,
    metadata: Vec<(String, Value)>,
    tensors: Vec<Tensor>,
}

impl Default for GgufWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl GgufWriter {
    pub fn new() -> Self {
        GgufWriter { alignment: DEFAULT_ALIGNMENT, metadata: Vec::new(), tensors: Vec::new() }
    }

    /// A writer holding a parsed file's metadata (in key order), tensors and alignment, to
    /// write it back changed (tests and the fuzzer edit single keys of a valid file).
    /// A writer holding `g`'s metadata and tensors (a header parsed alone gives empty tensors).
    pub fn from_gguf(g: &Gguf) -> Self {
        GgufWriter {
            alignment: g.alignment,
            metadata: g.metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            tensors: g
                .tensors
                .iter()
                .map(|t| Tensor {
                    name: t.name.clone(),
                    dims: t.dims.clone(),
                    ty: t.ty,
                    data: g.tensor_data(t).map(<[u8]>::to_vec).unwrap_or_default(),
                })
                .collect(),
        }
    }

    /// Replaces `key`'s value where it is (appends it when absent); `None` removes the key.
    pub fn set(mut self, key: &str, value: Option<Value>) -> Self {
        match (self.metadata.iter().position(|(k, _)| k == key), value) {
            (Some(i), Some(v)) => self.metadata[i].1 = v,
            (Some(i), None) => {
                self.metadata.remove(i);
            }
            (None, Some(v)) => self.metadata.push((key.into(), v)),
            (None, None) => {}
        }
        self
    }

    /// Appends a key-value pair, in order.
    pub fn metadata(mut self, key: impl Into<String>, value: Value) -> Self {
        self.metadata.push((key.into(), value));
        self
    }

    /// Appends a tensor; `dims` in ggml order (dims[0] is the row length).
    pub fn tensor(mut self, name: impl Into<String>, dims: &[u64], ty: GgmlType, data: Vec<u8>) -> Self {
        self.tensors.push(Tensor { name: name.into(), dims: dims.to_vec(), ty, data });
        self
    }

    /// Removes the tensor `name` (if present).
    pub fn remove_tensor(mut self, name: &str) -> Self {
        self.tensors.retain(|t| t.name != name);
        self
    }

    /// Rewrites every tensor's type and data with `f(name, dims, type, data)`.
    pub fn map_tensors<E>(
        mut self,
        mut f: impl FnMut(&str, &[u64], GgmlType, Vec<u8>) -> Result<(GgmlType, Vec<u8>), E>,
    ) -> Result<Self, E> {
        for t in &mut self.tensors {
            let (ty, data) = f(&t.name, &t.dims, t.ty, std::mem::take(&mut t.data))?;
            (t.ty, t.data) = (ty, data);
        }
        Ok(self)
    }

    /// Data alignment. Anything but 32 is also written as `general.alignment` (u32) unless
    /// that key was given explicitly. 0 pads as 1 (and the file is then rejected on read).
    pub fn alignment(mut self, alignment: u64) -> Self {
        self.alignment = alignment;
        self
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let align = self.alignment.max(1) as usize;
        let mut kv: Vec<(&str, Value)> = Vec::new();
        if self.alignment != DEFAULT_ALIGNMENT && !self.metadata.iter().any(|(k, _)| k == "general.alignment") {
            kv.push(("general.alignment", Value::U32(self.alignment as u32)));
        }
        kv.extend(self.metadata.iter().map(|(k, v)| (k.as_str(), v.clone())));

        let mut out = Vec::new();
        out.extend_from_slice(b"GGUF");
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        out.extend_from_slice(&(kv.len() as u64).to_le_bytes());
        for (k, v) in &kv {
            write_str(&mut out, k);
            out.extend_from_slice(&type_id(v).to_le_bytes());
            write_value(&mut out, v);
        }
        let mut offset = 0usize;
        for t in &self.tensors {
            write_str(&mut out, &t.name);
            out.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
            t.dims.iter().for_each(|d| out.extend_from_slice(&d.to_le_bytes()));
            out.extend_from_slice(&t.ty.id().to_le_bytes());
            out.extend_from_slice(&(offset as u64).to_le_bytes());
            offset += t.data.len().next_multiple_of(align);
        }
        pad(&mut out, align);
        for t in &self.tensors {
            out.extend_from_slice(&t.data);
            pad(&mut out, align);
        }
        out
    }
}

fn pad(out: &mut Vec<u8>, align: usize) {
    out.resize(out.len().next_multiple_of(align), 0);
}

fn write_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn type_id(v: &Value) -> u32 {
    match v {
        Value::U8(_) => 0,
        Value::I8(_) => 1,
        Value::U16(_) => 2,
        Value::I16(_) => 3,
        Value::U32(_) => 4,
        Value::I32(_) => 5,
        Value::F32(_) => 6,
        Value::Bool(_) => 7,
        Value::String(_) => 8,
        Value::Array(_) => 9,
        Value::U64(_) => 10,
        Value::I64(_) => 11,
        Value::F64(_) => 12,
    }
}

/// The value's payload, without its type id (arrays carry their element type inside).
fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::U8(x) => out.push(*x),
        Value::I8(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Bool(x) => out.push(*x as u8),
        Value::String(s) => write_str(out, s),
        Value::Array(a) => write_array(out, a),
    }
}

/// An array's element type, count and elements.
fn write_array(out: &mut Vec<u8>, a: &Array) {
    fn each<T: Copy>(out: &mut Vec<u8>, v: &[T], f: impl Fn(T) -> Value) {
        v.iter().for_each(|&x| write_value(out, &f(x)));
    }
    // The element type id: the id of an element's value (any element: they share it).
    let elem = match a {
        Array::U8(_) => 0u32,
        Array::I8(_) => 1,
        Array::U16(_) => 2,
        Array::I16(_) => 3,
        Array::U32(_) => 4,
        Array::I32(_) => 5,
        Array::F32(_) => 6,
        Array::Bool(_) => 7,
        Array::String(_) => 8,
        Array::Array(_) => 9,
        Array::U64(_) => 10,
        Array::I64(_) => 11,
        Array::F64(_) => 12,
    };
    out.extend_from_slice(&elem.to_le_bytes());
    out.extend_from_slice(&(a.len() as u64).to_le_bytes());
    match a {
        Array::U8(v) => out.extend_from_slice(v),
        Array::I8(v) => each(out, v, Value::I8),
        Array::U16(v) => each(out, v, Value::U16),
        Array::I16(v) => each(out, v, Value::I16),
        Array::U32(v) => each(out, v, Value::U32),
        Array::I32(v) => each(out, v, Value::I32),
        Array::U64(v) => each(out, v, Value::U64),
        Array::I64(v) => each(out, v, Value::I64),
        Array::F32(v) => each(out, v, Value::F32),
        Array::F64(v) => each(out, v, Value::F64),
        Array::Bool(v) => each(out, v, Value::Bool),
        Array::String(v) => v.iter().for_each(|s| write_str(out, s)),
        Array::Array(v) => v.iter().for_each(|a| write_array(out, a)),
    }
}
