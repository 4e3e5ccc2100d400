//! How many threads the tensor kernels use.

/// Sets the worker-thread count of the compute pool before any of it starts.
///
/// candle builds its rayon pool lazily and sizes both the pool and its matrix
/// multiplications from `RAYON_NUM_THREADS`, so setting the variable is enough.
pub fn configure(threads: Option<usize>) {
    let Some(n) = threads.filter(|&n| n > 0) else {
        return;
    };
    // SAFETY: called first thing in `main`, before any other thread exists, so no
    // other thread can be reading the environment concurrently.
    unsafe { std::env::set_var("RAYON_NUM_THREADS", n.to_string()) };
}
