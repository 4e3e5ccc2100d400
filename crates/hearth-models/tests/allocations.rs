//! A decoding step allocates nothing once the first steps have run: its buffers come
//! back from the shelves the earlier steps filled. Its own test binary, because the
//! counting allocator sees every thread of the process.

#![allow(clippy::unwrap_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use hearth_gguf::GgmlType;
use hearth_models::{Model, SeqChunk};
use hearth_test_support::tiny_llama;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call goes straight to the system allocator; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's promises are passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations a step may make whatever the model's size: the compute team's start
/// on the thread pool boxes one job per helper thread.
fn per_step() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Allocations the thread pool's own bookkeeping may add over the measured steps (a
/// worker registering with the work-stealing queues' memory reclamation).
const POOL_SLACK: usize = 16;

/// Steps measured after the warm-up.
const MEASURED: usize = 8;

#[test]
fn decoding_steps_allocate_nothing_once_warm() {
    // The K-quants need rows of 256 values; heads of 64 take the decoding-row kernel.
    let cases = [
        (GgmlType::Q4_1, 64),
        (GgmlType::Q5_0, 64),
        (GgmlType::Q8_0, 64),
        (GgmlType::Q4K, 256),
        (GgmlType::Q6K, 256),
    ];
    for (weight_type, n_embd) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tiny.gguf");
        let mut spec = tiny_llama();
        spec.n_layers = 6;
        spec.n_embd = n_embd;
        spec.n_ff = 2 * n_embd;
        spec.weight_type = weight_type;
        spec.write(&path);
        let model = Model::load(&path).unwrap();

        let prompts: [&[u32]; 3] = [&[1, 2, 3], &[4, 5], &[6, 7, 8, 9]];
        let mut caches: Vec<_> = prompts
            .iter()
            .map(|_| model.new_cache(128).unwrap())
            .collect();
        let mut lens: Vec<usize> = prompts.iter().map(|p| p.len()).collect();
        for (p, cache) in prompts.iter().zip(&mut caches) {
            let chunk = SeqChunk {
                tokens: p,
                start: 0,
            };
            model.forward(&[chunk], &mut [cache]).unwrap();
        }
        let mut step = || {
            let tokens: Vec<[u32; 1]> = (0..3).map(|i| [10 + i]).collect();
            let chunks: Vec<SeqChunk> = tokens
                .iter()
                .zip(&lens)
                .map(|(t, &start)| SeqChunk { tokens: t, start })
                .collect();
            let mut refs: Vec<_> = caches.iter_mut().collect();
            let before = ALLOCATIONS.load(Ordering::Relaxed);
            let logits = model.forward(&chunks, &mut refs).unwrap();
            drop(logits);
            let made = ALLOCATIONS.load(Ordering::Relaxed) - before;
            lens.iter_mut().for_each(|l| *l += 1);
            made
        };
        for _ in 0..4 {
            step();
        }
        let made: usize = (0..MEASURED).map(|_| step()).sum();
        assert!(
            made <= MEASURED * per_step() + POOL_SLACK,
            "{weight_type}: {MEASURED} warm decoding steps made {made} allocations"
        );
    }
}
