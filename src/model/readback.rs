//! The readback ring: each step's sampler records (64 bytes a lane) are copied into one of
//! `RING` staging buffers and mapped, so step t+1 can be submitted before step t is read
//! back: the GPU runs the next step while the CPU streams this one's text.

use std::collections::VecDeque;

use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::sampling::LaneRecord;

/// Steps that can be in flight (submitted, not yet collected) at once.
pub const RING: usize = 2;

/// A submitted step whose records are on their way to staging buffer `buffer`.
struct InFlight {
    buffer: usize,
    len: u64,
    index: wgpu::SubmissionIndex,
    mapped: Mapped,
}

type Mapped = futures_channel::oneshot::Receiver<std::result::Result<(), wgpu::BufferAsyncError>>;

pub(super) struct Readback {
    staging: [wgpu::Buffer; RING],
    in_flight: VecDeque<InFlight>,
}

impl Readback {
    /// Staging buffers for up to `lanes` records each.
    pub fn new(gpu: &Gpu, lanes: u32) -> Self {
        let bytes = 64 * lanes as u64;
        Readback {
            staging: [gpu.readback_buffer("staging0", bytes), gpu.readback_buffer("staging1", bytes)],
            in_flight: VecDeque::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.in_flight.len()
    }

    /// Refuses a step whose records would find no free staging buffer.
    pub fn check_free(&self) -> Result<()> {
        if self.in_flight.len() >= RING {
            return Err(Error::Param(format!("{RING} steps are already in flight: collect one first")));
        }
        Ok(())
    }

    /// Copies `n` records from `records` into a free staging buffer in `enc`, submits `enc`
    /// and asks for the copy to be mapped (`collect` reads it).
    pub fn submit(&mut self, gpu: &Gpu, mut enc: wgpu::CommandEncoder, records: &wgpu::Buffer, n: u32) -> Result<()> {
        self.check_free()?;
        let buffer = (0..RING).find(|&s| self.in_flight.iter().all(|f| f.buffer != s)).expect("checked free");
        let (staging, len) = (&self.staging[buffer], 64 * n as u64);
        enc.copy_buffer_to_buffer(records, 0, staging, 0, len);
        let index = gpu.queue.submit([enc.finish()]);
        let (tx, rx) = futures_channel::oneshot::channel();
        staging.slice(..len).map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.in_flight.push_back(InFlight { buffer, len, index, mapped: rx });
        Ok(())
    }

    /// Waits for the oldest step in flight (only for it: natively the device is polled up
    /// to its submission, so a step submitted after it keeps running) and returns its records.
    pub async fn collect(&mut self, gpu: &Gpu) -> Result<Vec<LaneRecord>> {
        let mut f = self.in_flight.pop_front().ok_or_else(|| Error::Param("collect: no step in flight".into()))?;
        if let Err(e) = gpu.wait_for(f.index) {
            // An error of the step itself (see `Gpu::check_device`): its buffer is freed.
            release(&self.staging[f.buffer], &mut f.mapped);
            return Err(e);
        }
        match f.mapped.await {
            Err(_) => return Err(Error::Gpu("readback was dropped (device lost?)".into())),
            Ok(Err(e)) => return Err(Error::Gpu(format!("readback failed: {e}"))),
            Ok(Ok(())) => {}
        }
        let buf = &self.staging[f.buffer];
        let records = match buf.slice(..f.len).get_mapped_range() {
            Err(e) => Err(Error::Gpu(format!("readback map: {e}"))),
            Ok(view) => Ok(bytemuck::pod_collect_to_vec(&view[..])),
        };
        buf.unmap();
        // On the web an error of the step arrives as an event before its mapping.
        gpu.check_device()?;
        records
    }

    /// Drops the steps in flight unread: their maps are cancelled and their buffers freed.
    pub fn discard(&mut self) {
        for mut f in self.in_flight.drain(..) {
            release(&self.staging[f.buffer], &mut f.mapped);
        }
    }
}

/// Frees a staging buffer whose map is not read: a map that failed left it unmapped
/// (unmapping it again is an error); a pending or completed one is cancelled or released.
fn release(buf: &wgpu::Buffer, mapped: &mut Mapped) {
    if !matches!(mapped.try_recv(), Ok(Some(Err(_))) | Err(_)) {
        buf.unmap();
    }
}
