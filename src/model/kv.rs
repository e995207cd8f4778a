//! The KV cache and where each row's keys and values live in it.
//!
//! Every layer has a K and a V cache of `slots` rows (one slot holds one position's k or v
//! for all kv heads). A row's `RowInfo` maps positions to slots: positions below its
//! `prefix` are the shared sequence, at slot = position (slots 0..n_ctx); from `prefix` on
//! they are the row's own, at `base` + (position − prefix). Lanes are B continuations of
//! one prompt: they share the prompt's slots, and lane b owns slots n_ctx + b·stride ..
//! n_ctx + (b + 1)·stride. The caches grow on demand to fit the lanes.
//!
//! The row infos of every step are written once (a table for the shared sequence at load,
//! a table for every step of every lane at `start`), so a step only copies its rows' infos
//! into place: no write and no staging allocation per step.

use super::forward::{Forward, KvBinds};
use crate::error::{Error, Result};
use crate::kernels::{Kernels, RowInfo};

/// One layer's caches and the bind groups that use them (remade when the caches grow).
struct KvLayer {
    binds: KvBinds,
    _caches: (wgpu::Buffer, wgpu::Buffer),
}

pub(super) struct KvCache {
    layers: Vec<KvLayer>,
    /// Slots per layer now allocated (≥ n_ctx).
    pub slots: u32,
    n_ctx: u32,
    n_layer: u32,
    /// Bytes of one slot of one layer's K (or V) cache.
    slot_bytes: u64,
    /// The most bytes all caches may take together; it bounds the lanes.
    budget: u64,
    max_binding: u64,
    /// [n_ctx] RowInfo::solo(p): the rows of the shared sequence.
    pub solo_rows: wgpu::Buffer,
    pub lanes: LaneTable,
}

/// The lanes `start` set up: B lanes after a shared prefix, `stride` slots each.
#[derive(Default)]
pub(super) struct LaneTable {
    pub prefix: u32,
    pub stride: u32,
    pub count: u32,
    /// [stride steps][count lanes] RowInfo (grown only).
    pub rows: Option<wgpu::Buffer>,
}

impl LaneTable {
    /// Lane `b` at its `step`-th own token: position prefix + step, its own KV from slot
    /// n_ctx + b · stride.
    pub fn row(&self, n_ctx: u32, b: u32, step: u32) -> RowInfo {
        RowInfo::lane(self.prefix + step, self.prefix, n_ctx + b * self.stride)
    }
}

impl KvCache {
    pub fn new(kern: &Kernels, n_ctx: u32, n_layer: u32, kv_dim: u32, f16: bool, budget: u64) -> Result<Self> {
        let rows: Vec<RowInfo> = (0..n_ctx).map(RowInfo::solo).collect();
        Ok(KvCache {
            layers: Vec::new(),
            slots: 0,
            n_ctx,
            n_layer,
            slot_bytes: Self::slot_bytes(kv_dim, f16),
            budget,
            max_binding: kern.gpu.facts.max_storage_binding,
            solo_rows: kern.gpu.storage_init("solo_row_info", bytemuck::cast_slice(&rows))?,
            lanes: LaneTable::default(),
        })
    }

    pub fn binds(&self) -> impl Iterator<Item = &KvBinds> {
        self.layers.iter().map(|l| &l.binds)
    }

    /// Bytes of KV cache per slot, all layers, K and V together.
    /// Bytes of one position's K (or V) row of one layer.
    pub fn slot_bytes(kv_dim: u32, f16: bool) -> u64 {
        (if f16 { 2 } else { 4 }) * kv_dim as u64
    }

    pub fn bytes_per_slot(&self) -> u64 {
        2 * self.slot_bytes * self.n_layer as u64
    }

    pub fn bytes(&self) -> u64 {
        self.slots as u64 * self.bytes_per_slot()
    }

    /// The most slots the adapter's binding limit and the KV budget allow.
    pub fn max_slots(&self) -> u64 {
        (self.max_binding / self.slot_bytes).min(self.budget / self.bytes_per_slot())
    }

    /// The most lanes that can each generate `lane_tokens` tokens after a shared prompt
    /// (also bounded by the rows one forward call takes).
    pub fn lane_capacity(&self, lane_tokens: u32, max_rows: u32) -> u32 {
        let free = self.max_slots().saturating_sub(self.n_ctx as u64);
        (free / (lane_tokens as u64 + 1)).min(max_rows as u64) as u32
    }

    /// Grows every layer's caches to `slots` (contents are lost: call before a prompt).
    pub async fn ensure(&mut self, kern: &Kernels, fwd: &Forward, slots: u32) -> Result<()> {
        if slots <= self.slots {
            return Ok(());
        }
        if slots as u64 > self.max_slots() {
            return Err(Error::Param(format!(
                "{slots} KV slots do not fit: the adapter's binding limit and the KV budget allow {}",
                self.max_slots()
            )));
        }
        let bytes = slots as u64 * self.slot_bytes;
        self.layers.clear();
        let gpu = kern.gpu.clone();
        self.layers = gpu
            .checked("allocating the KV cache", async {
                (0..self.n_layer as usize)
                    .map(|il| {
                        let (kc, vc) = (gpu.storage("k_cache", bytes)?, gpu.storage("v_cache", bytes)?);
                        Ok(KvLayer { binds: fwd.bind_kv(kern, il, &kc, &vc)?, _caches: (kc, vc) })
                    })
                    .collect::<Result<Vec<KvLayer>>>()
            })
            .await??;
        self.slots = slots;
        Ok(())
    }

    /// Sets up `n_lanes` lanes of `lane_tokens` tokens after a shared prefix of `prefix`
    /// positions: grows the caches and writes the row infos of every step of every lane.
    pub async fn start_lanes(
        &mut self,
        kern: &Kernels,
        fwd: &Forward,
        prefix: u32,
        n_lanes: u32,
        lane_tokens: u32,
        max_rows: u32,
    ) -> Result<()> {
        let cap = self.lane_capacity(lane_tokens, max_rows);
        if n_lanes == 0 || n_lanes > cap {
            return Err(Error::Param(format!(
                "{n_lanes} lanes of {lane_tokens} tokens: this adapter and KV budget fit 1 to {cap} (max rows {max_rows})"
            )));
        }
        if prefix as u64 + lane_tokens as u64 + 1 > self.n_ctx as u64 {
            return Err(Error::Context(format!(
                "{} prompt tokens + {lane_tokens} new tokens exceed the context of {}",
                prefix + 1,
                self.n_ctx
            )));
        }
        let stride = lane_tokens + 1;
        self.ensure(kern, fwd, self.n_ctx + n_lanes * stride).await?;
        let t = &mut self.lanes;
        (t.prefix, t.stride, t.count) = (prefix, stride, n_lanes);
        let rows: Vec<RowInfo> = (0..stride)
            .flat_map(|step| (0..n_lanes).map(move |b| (b, step)))
            .map(|(b, s)| t.row(self.n_ctx, b, s))
            .collect();
        let bytes: &[u8] = bytemuck::cast_slice(&rows);
        if t.rows.as_ref().is_none_or(|buf| buf.size() < bytes.len() as u64) {
            t.rows = Some(kern.gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("lane_row_info"),
                size: bytes.len() as u64,
                usage: wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }));
        }
        kern.gpu.queue.write_buffer(t.rows.as_ref().expect("just made"), 0, bytes);
        Ok(())
    }

    /// Checks that row `r` fits the context and the slots allocated.
    pub fn check(&self, r: RowInfo) -> Result<()> {
        if r.pos >= self.n_ctx {
            return Err(Error::Context(format!("position {} is past the context of {} tokens", r.pos, self.n_ctx)));
        }
        if r.slot(r.pos) >= self.slots {
            return Err(Error::Param(format!("KV slot {} is past the {} allocated", r.slot(r.pos), self.slots)));
        }
        Ok(())
    }
}
