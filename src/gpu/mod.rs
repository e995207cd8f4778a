//! The wgpu context: adapter choice, device limits and features, buffers, readbacks and
//! error capture. Everything here works the same natively and in the browser.

pub mod profile;
pub mod shader;

use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};

/// Which kernel variant a family should use. Software adapters (lavapipe, SwiftShader)
/// run invocations as SIMD lanes on a CPU where barriers are very costly, so one invocation
/// per output row wins; real GPUs want cooperative rows (see docs/DESIGN.md, "Kernel variants").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// One invocation per output row, no barriers.
    Row,
    /// A workgroup per output row with a shared-memory reduction.
    Cooperative,
}

impl Variant {
    pub fn name(self) -> &'static str {
        match self {
            Variant::Row => "row",
            Variant::Cooperative => "cooperative",
        }
    }
}

/// What the caller may ask of the adapter.
#[derive(Clone, Debug, Default)]
pub struct GpuOptions {
    /// Force a kernel variant (tests run both on lavapipe); None picks from the adapter.
    pub variant: Option<Variant>,
    /// Ask for at most this storage binding size (and buffer size), below the adapter's: to
    /// run as a browser with WebGPU's default limits would (128 MiB), or to test the refusal
    /// of a model that does not fit.
    pub max_storage_binding: Option<u64>,
    /// Int8 activations in the Q4 and Q8 matmuls (quantized per 32-value block, dotted with
    /// WGSL's packed 4×8-bit dot products), on either kernel variant: Some(true) asks for int8
    /// wherever the adapter has `packed_4x8_integer_dot_product`; None and Some(false) keep
    /// every matmul in f32. Not the default: the native CLI and the page must give the same
    /// numbers, and the page's SwiftShader runs int8 slower (docs/DESIGN.md, "Int8
    /// activations").
    pub int8: Option<bool>,
}

/// Facts about the adapter, for the CLI, the page and the benchmark.
#[derive(Clone, Debug)]
pub struct AdapterFacts {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    pub software: bool,
    pub has_subgroups: bool,
    pub has_f16: bool,
    pub has_timestamps: bool,
    /// WGSL's `packed_4x8_integer_dot_product` (dot4I8Packed): always natively (naga
    /// implements it), in the browser where `navigator.gpu.wgslLanguageFeatures` has it.
    pub has_dot4: bool,
    pub max_storage_binding: u64,
}

/// A device and queue plus what we learned about the adapter.
#[derive(Clone)]
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub facts: Arc<AdapterFacts>,
    pub variant: Variant,
    /// Whether the Q4 and Q8 matmuls take int8 activations (`GpuOptions::int8`).
    pub int8: bool,
    /// Set by the device-lost callback: why the device was lost. Once set, every call here
    /// that waits on the GPU fails with [`Error::Gpu`] naming it.
    lost: Arc<Mutex<Option<String>>>,
    /// The first error no error scope caught since the last check (e.g. a pipeline made on
    /// first use that failed, and the step that used it): the next wait reports it.
    uncaught: Arc<Mutex<Option<String>>>,
}

impl Gpu {
    /// Picks the high-performance adapter (a software one if that is all there is) and
    /// opens a device with the adapter's own storage limits, which the model needs.
    pub async fn new(opts: GpuOptions) -> Result<Gpu> {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends =
            if cfg!(target_arch = "wasm32") { wgpu::Backends::BROWSER_WEBGPU } else { wgpu::Backends::PRIMARY };
        let instance = wgpu::Instance::new(desc);
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                force_fallback_adapter: false,
                compatible_surface: None,
                apply_limit_buckets: false,
            })
            .await
            .map_err(|e| Error::NoGpu(format!("no WebGPU/Vulkan adapter: {e}")))?;
        let info = adapter.get_info();
        let mut limits = adapter.limits();
        if let Some(cap) = opts.max_storage_binding {
            limits.max_storage_buffer_binding_size = limits.max_storage_buffer_binding_size.min(cap);
            limits.max_buffer_size = limits.max_buffer_size.min(cap);
        }
        let features = adapter.features();
        let software = info.device_type == wgpu::DeviceType::Cpu
            || ["llvmpipe", "lavapipe", "swiftshader"].iter().any(|s| info.name.to_lowercase().contains(s));
        let wanted = wgpu::Features::SUBGROUP | wgpu::Features::SHADER_F16 | wgpu::Features::TIMESTAMP_QUERY;
        let required_features = features & wanted;
        let required_limits = wgpu::Limits {
            max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
            max_buffer_size: limits.max_buffer_size,
            max_storage_buffers_per_shader_stage: limits.max_storage_buffers_per_shader_stage,
            max_compute_workgroups_per_dimension: limits.max_compute_workgroups_per_dimension,
            max_compute_invocations_per_workgroup: limits.max_compute_invocations_per_workgroup,
            max_compute_workgroup_size_x: limits.max_compute_workgroup_size_x,
            ..wgpu::Limits::downlevel_defaults()
        };
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("samplescope"),
                required_features,
                required_limits,
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| Error::NoGpu(format!("cannot open a device on {}: {e}", info.name)))?;
        let facts = AdapterFacts {
            name: info.name.clone(),
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver: format!("{} {}", info.driver, info.driver_info).trim().to_string(),
            software,
            has_subgroups: required_features.contains(wgpu::Features::SUBGROUP),
            has_f16: required_features.contains(wgpu::Features::SHADER_F16),
            has_timestamps: required_features.contains(wgpu::Features::TIMESTAMP_QUERY),
            has_dot4: instance
                .wgsl_language_features()
                .contains(wgpu::WgslLanguageFeatures::Packed4x8IntegerDotProduct),
            max_storage_binding: limits.max_storage_buffer_binding_size as u64,
        };
        let variant = opts.variant.unwrap_or(if software { Variant::Row } else { Variant::Cooperative });
        let int8 = facts.has_dot4 && opts.int8.unwrap_or(false);
        let lost = Arc::new(Mutex::new(None));
        let flag = lost.clone();
        device.set_device_lost_callback(move |reason, message| {
            let why = match reason {
                wgpu::DeviceLostReason::Destroyed => "destroyed".to_string(),
                wgpu::DeviceLostReason::Unknown => "lost".to_string(),
            };
            let text = if message.trim().is_empty() { why } else { format!("{why}: {}", message.trim()) };
            if let Ok(mut l) = flag.lock() {
                l.get_or_insert(text);
            }
        });
        // Without a handler wgpu panics natively on such an error (and the page only logs it).
        let uncaught = Arc::new(Mutex::new(None));
        let sink = uncaught.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut u) = sink.lock() {
                u.get_or_insert(e.to_string());
            }
        }));
        Ok(Gpu { device, queue, facts: Arc::new(facts), variant, int8, lost, uncaught })
    }

    /// Why the device was lost (its reason and the driver's message), or None while it works.
    pub fn lost(&self) -> Option<String> {
        self.lost.lock().ok().and_then(|l| l.clone())
    }

    /// `Err(Error::Gpu)` naming the loss once the device is lost, or the error no scope caught
    /// since the last check (once); `Ok` while it works.
    pub fn check_device(&self) -> Result<()> {
        if let Some(why) = self.lost() {
            return Err(device_lost_error(&why));
        }
        match self.uncaught.lock().ok().and_then(|mut u| u.take()) {
            Some(e) => Err(Error::Gpu(format!("the GPU reported an error: {e}"))),
            None => Ok(()),
        }
    }

    /// `e`, or the device-lost error when the device has been lost meanwhile (a failed
    /// readback is usually the first sign of a loss, before the callback names it).
    pub fn explain(&self, e: Error) -> Error {
        match self.lost() {
            Some(why) if !matches!(&e, Error::Gpu(m) if m.starts_with(DEVICE_LOST)) => device_lost_error(&why),
            _ => e,
        }
    }

    /// A storage buffer holding `data`, checked against the binding limit.
    pub fn storage_init(&self, label: &str, data: &[u8]) -> Result<wgpu::Buffer> {
        let buf = self.storage(label, data.len() as u64)?;
        self.queue.write_buffer(&buf, 0, data);
        Ok(buf)
    }

    /// An rgba32uint 2D texture of `width` × `rows` texels filled from `texels` (4 words a
    /// texel, row-major), for textureLoad in the kernels.
    pub fn texture_u32x4(&self, label: &str, width: u32, rows: u32, texels: &[u32]) -> Result<wgpu::Texture> {
        if texels.len() != (width * rows * 4) as usize {
            return Err(Error::Gpu(format!("texture {label}: {} words for {width}×{rows} texels", texels.len())));
        }
        let size = wgpu::Extent3d { width, height: rows, depth_or_array_layers: 1 };
        let tex = self.device.create_texture(&wgpu::TextureDescriptor {
            label: Some(label),
            size,
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba32Uint,
            usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        });
        self.queue.write_texture(
            tex.as_image_copy(),
            bytemuck::cast_slice(texels),
            wgpu::TexelCopyBufferLayout { offset: 0, bytes_per_row: Some(width * 16), rows_per_image: Some(rows) },
            size,
        );
        Ok(tex)
    }

    /// A zero-filled storage buffer that can also be copied from and written to.
    pub fn storage(&self, label: &str, size: u64) -> Result<wgpu::Buffer> {
        // wgpu rejects zero-sized bindings; round up to a u32 multiple for write_buffer.
        let size = size.max(16).div_ceil(4) * 4;
        if size > self.facts.max_storage_binding {
            return Err(Error::Unsupported(format!(
                "buffer {label:?} needs {size} bytes, over this adapter's storage binding limit of {} bytes",
                self.facts.max_storage_binding
            )));
        }
        Ok(self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        }))
    }

    pub fn uniform_init(&self, label: &str, data: &[u8]) -> wgpu::Buffer {
        let buf = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: (data.len() as u64).max(16).div_ceil(16) * 16,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.queue.write_buffer(&buf, 0, data);
        buf
    }

    pub fn readback_buffer(&self, label: &str, size: u64) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: size.max(4).div_ceil(4) * 4,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// Maps a MAP_READ buffer and copies out its first `len` bytes, then unmaps it.
    pub async fn read_mapped(&self, buf: &wgpu::Buffer, len: u64) -> Result<Vec<u8>> {
        self.check_device()?;
        let (tx, rx) = futures_channel::oneshot::channel();
        let slice = buf.slice(..len);
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.wait_idle()?;
        rx.await
            .map_err(|_| self.explain(Error::Gpu("readback was dropped (device lost?)".into())))?
            .map_err(|e| self.explain(Error::Gpu(format!("readback failed: {e}"))))?;
        let bytes = slice.get_mapped_range().map_err(|e| Error::Gpu(format!("readback map: {e}")))?.to_vec();
        buf.unmap();
        // On the web an error of the work read back arrives as an event before the mapping.
        self.check_device()?;
        Ok(bytes)
    }

    /// Copies `len` bytes of a storage buffer to the CPU (a fresh staging buffer; for tests
    /// and the inspector, not for the decode loop).
    pub async fn read_storage(&self, src: &wgpu::Buffer, offset: u64, len: u64) -> Result<Vec<u8>> {
        self.check_device()?;
        let staging = self.readback_buffer("read_storage", len);
        let mut enc = self.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(src, offset, &staging, 0, len.div_ceil(4) * 4);
        self.queue.submit([enc.finish()]);
        let mut bytes = self.read_mapped(&staging, len.div_ceil(4) * 4).await?;
        bytes.truncate(len as usize);
        Ok(bytes)
    }

    pub async fn read_f32(&self, src: &wgpu::Buffer, n: usize) -> Result<Vec<f32>> {
        let bytes = self.read_storage(src, 0, 4 * n as u64).await?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    /// Natively, drives the device until submitted work (and map callbacks) are done. In the
    /// browser the event loop does this, so it is a no-op there.
    pub fn wait_idle(&self) -> Result<()> {
        self.check_device()?;
        #[cfg(not(target_arch = "wasm32"))]
        {
            let polled = self.device.poll(wgpu::PollType::wait_indefinitely());
            polled.map_err(|e| self.explain(Error::Gpu(format!("device poll: {e}"))))?;
            self.check_device()?;
        }
        Ok(())
    }

    /// Natively, drives the device until submission `index` (and the map callbacks it
    /// unblocks) is done, not waiting for what was submitted after it. In the browser the
    /// event loop does this, so it is a no-op there.
    pub fn wait_for(&self, index: wgpu::SubmissionIndex) -> Result<()> {
        self.check_device()?;
        #[cfg(not(target_arch = "wasm32"))]
        self.device
            .poll(wgpu::PollType::Wait { submission_index: Some(index), timeout: None })
            .map_err(|e| self.explain(Error::Gpu(format!("device poll: {e}"))))?;
        #[cfg(not(target_arch = "wasm32"))]
        self.check_device()?;
        #[cfg(target_arch = "wasm32")]
        let _ = index;
        Ok(())
    }

    /// Runs `f` inside a validation + out-of-memory error scope and turns what it caught into
    /// an error: on WebGPU, validation errors otherwise reach only the console. `f` may wait
    /// (a load waits for the file's bytes); nothing else uses the device meanwhile, since the
    /// engine runs one call at a time.
    pub async fn checked<T>(&self, what: &str, f: impl std::future::Future<Output = T>) -> Result<T> {
        self.check_device()?;
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let out = f.await;
        let v = validation.pop().await;
        let o = oom.pop().await;
        if let Some(e) = v.or(o) {
            return Err(self.explain(Error::Gpu(format!("{what}: {e}"))));
        }
        self.check_device()?;
        Ok(out)
    }
}

/// How every device-lost error begins (the page matches on it).
pub const DEVICE_LOST: &str = "the GPU device was lost";

fn device_lost_error(why: &str) -> Error {
    Error::Gpu(format!("{DEVICE_LOST} ({why}); nothing more can run on it: start again to open a new device"))
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    /// A destroyed device turns later GPU calls into a clear Error::Gpu, not a hang or a panic.
    #[test]
    fn a_lost_device_is_a_clear_error() {
        let gpu = pollster::block_on(Gpu::new(GpuOptions::default())).expect("a GPU adapter (lavapipe)");
        let buf = gpu.storage_init("before", &[1, 2, 3, 4]).unwrap();
        assert_eq!(pollster::block_on(gpu.read_storage(&buf, 0, 4)).unwrap(), [1, 2, 3, 4]);
        assert!(gpu.lost().is_none());
        gpu.device.destroy();
        // wgpu calls the lost callback once the device has been maintained after destroy.
        let _ = gpu.device.poll(wgpu::PollType::wait_indefinitely());
        let why = gpu.lost().expect("the device-lost callback ran");
        assert!(why.starts_with("destroyed"), "{why}");
        let err = pollster::block_on(gpu.read_storage(&buf, 0, 4)).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::Gpu(_)), "{msg}");
        assert!(msg.contains(DEVICE_LOST) && msg.contains("destroyed"), "{msg}");
        assert!(gpu.wait_idle().is_err());
        assert!(pollster::block_on(gpu.checked("a dispatch", async {})).is_err());
        // Recording and submitting work on the lost device (as the decode loop does before it
        // waits for a step) does not panic; the wait after it reports the loss.
        let staging = gpu.readback_buffer("after", 4);
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(&buf, 0, &staging, 0, 4);
        let index = gpu.queue.submit([enc.finish()]);
        assert!(gpu.wait_for(index).unwrap_err().to_string().contains(DEVICE_LOST));
    }
}
