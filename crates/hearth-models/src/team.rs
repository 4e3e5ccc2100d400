//! The compute pool's threads kept together, spinning, for one forward pass.
//!
//! A decoding step runs a few hundred parallel loops of tens of microseconds each.
//! Through rayon alone, a worker that runs out of work in one loop soon sleeps, and
//! the next loop pays a futex wake and a context switch to get it back: on two cores
//! that cost a sixth of the step. Inside [`run`], the other workers instead wait
//! for the next loop by spinning, as llama.cpp's threads do, and [`for_each`] hands
//! them its tasks through one shared counter. Outside a team, [`for_each`] falls back
//! to rayon.

use std::any::Any;
use std::cell::Cell;
use std::mem::MaybeUninit;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::ptr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

use rayon::prelude::*;

use crate::pool::{Buf, Pooled};

/// Spins of a waiting helper between two `yield_now`s, so that a helper whose main
/// thread is busy with serial work for long gives the core back now and then.
const SPINS_BEFORE_YIELD: u32 = 1 << 14;

/// A claim takes at most this fraction of the tasks left.
const CLAIM_SHARE: usize = 4;

/// One parallel loop: `n` tasks handed out in order through `next`.
struct Job<'a> {
    task: &'a (dyn Fn(usize) + Sync),
    n: usize,
    next: AtomicUsize,
    done: AtomicUsize,
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

impl Job<'_> {
    /// Runs tasks until none is left. A panicking task still counts as done, so that
    /// the loop's owner never waits forever; the owner re-raises the panic.
    ///
    /// The tasks a thread ran are counted into `done` once, when it runs out: a
    /// locked add per task, on the line the owner polls, cost each thread several
    /// percent of a decoding step.
    fn work(&self) {
        let mut finished = 0;
        loop {
            // Several tasks per claim while many are left, one at a time near the end:
            // each claim is a locked add that waits for the last task's stores to
            // drain, and the end of the loop still balances.
            let left = self.n.saturating_sub(self.next.load(Ordering::Relaxed));
            let take = (left / CLAIM_SHARE).max(1);
            let first = self.next.fetch_add(take, Ordering::Relaxed);
            if first >= self.n {
                break;
            }
            for i in first..(first + take).min(self.n) {
                if let Err(payload) = catch_unwind(AssertUnwindSafe(|| (self.task)(i))) {
                    self.panic
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get_or_insert(payload);
                }
                finished += 1;
            }
        }
        if finished > 0 {
            self.done.fetch_add(finished, Ordering::Release);
        }
    }
}

struct Team {
    /// The loop in progress, or null; points into the owner's stack frame.
    job: AtomicPtr<Job<'static>>,
    /// Bumped for every new loop, so that helpers look at each loop once.
    epoch: AtomicUsize,
    /// Helpers between reading `job` and being done with it.
    working: AtomicUsize,
    finished: AtomicBool,
}

thread_local! {
    /// The team this thread leads, or null.
    static LEADING: Cell<*const Team> = const { Cell::new(ptr::null()) };
}

/// Runs `f` on a thread of the compute pool with the pool's other threads spinning
/// beside it, ready for every [`for_each`] that `f` calls.
pub(crate) fn run<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    let helpers = rayon::current_num_threads().saturating_sub(1);
    let team = Team {
        job: AtomicPtr::new(ptr::null_mut()),
        epoch: AtomicUsize::new(0),
        working: AtomicUsize::new(0),
        finished: AtomicBool::new(false),
    };
    let mut result = None;
    rayon::scope(|s| {
        for _ in 0..helpers {
            s.spawn(|_| team.help());
        }
        let _lead = Lead::start(&team);
        result = Some(f());
    });
    result.expect("rayon::scope runs its closure before returning")
}

/// Marks this thread as the team's leader until dropped; then, even when unwinding,
/// lets the helpers go.
struct Lead<'a> {
    team: &'a Team,
    outer: *const Team,
}

impl<'a> Lead<'a> {
    fn start(team: &'a Team) -> Self {
        let outer = LEADING.with(|l| l.replace(team));
        Self { team, outer }
    }
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        LEADING.with(|l| l.set(self.outer));
        self.team.finished.store(true, Ordering::Release);
    }
}

impl Team {
    /// A helper's life: take part in every loop until the team finishes.
    fn help(&self) {
        // A thread that leads a team, this one or another, must not wait as a helper:
        // rayon can hand a leader this job while it waits inside its own work, and
        // the team it leads would then never finish.
        if !LEADING.with(Cell::get).is_null() {
            return;
        }
        // From zero, not the current epoch: a helper that starts late (waking a
        // worker takes a while) joins the loop already in progress.
        let mut seen = 0;
        let mut idle = 0u32;
        while !self.finished.load(Ordering::Acquire) {
            let epoch = self.epoch.load(Ordering::Acquire);
            if epoch == seen {
                idle += 1;
                if idle.is_multiple_of(SPINS_BEFORE_YIELD) {
                    std::thread::yield_now();
                } else {
                    std::hint::spin_loop();
                }
                continue;
            }
            seen = epoch;
            idle = 0;
            // Counted before reading `job`, so that the leader, which clears `job`
            // and then waits for `working` to drop to zero, never frees a job that
            // a helper is about to use.
            self.working.fetch_add(1, Ordering::SeqCst);
            let job = self.job.load(Ordering::SeqCst);
            if !job.is_null() {
                // SAFETY: non-null `job` points to a live `Job`: its leader clears
                // the pointer and waits for `working` to return to zero before the
                // job goes out of scope.
                unsafe { (*job).work() };
            }
            self.working.fetch_sub(1, Ordering::Release);
        }
    }

    /// Runs `n` tasks with the helpers; returns when all are done.
    fn for_each(&self, n: usize, task: &(dyn Fn(usize) + Sync)) {
        let job = Job {
            task,
            n,
            next: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            panic: Mutex::new(None),
        };
        // The pointer only lives until the end of this function (see `help`), so
        // erasing the lifetime of `task` is sound.
        let shared = (&job as *const Job<'_>).cast::<Job<'static>>().cast_mut();
        self.job.store(shared, Ordering::SeqCst);
        self.epoch.fetch_add(1, Ordering::Release);
        job.work();
        wait_until(|| job.done.load(Ordering::Acquire) == n);
        self.job.store(ptr::null_mut(), Ordering::SeqCst);
        wait_until(|| self.working.load(Ordering::SeqCst) == 0);
        if let Some(payload) = job.panic.into_inner().unwrap_or_else(|e| e.into_inner()) {
            resume_unwind(payload);
        }
    }
}

fn wait_until(ready: impl Fn() -> bool) {
    let mut spins = 0u32;
    while !ready() {
        spins += 1;
        if spins.is_multiple_of(SPINS_BEFORE_YIELD) {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Runs `task(i)` for every `i < n`, in parallel: on this thread's team when it leads
/// one, on rayon's pool otherwise.
pub(crate) fn for_each(n: usize, task: impl Fn(usize) + Sync) {
    if n == 1 {
        return task(0);
    }
    let team = LEADING.with(Cell::get);
    if team.is_null() {
        (0..n).into_par_iter().for_each(&task);
    } else {
        // SAFETY: a team is only marked as led while `run` holds it on the stack.
        unsafe { (*team).for_each(n, &task) };
    }
}

/// Runs `task(i, chunk)` for each `chunk` of `data` of `len` items (the last may be
/// shorter), in parallel as [`for_each`] does.
pub(crate) fn for_each_chunk_mut<T: Send>(
    data: &mut [T],
    len: usize,
    task: impl Fn(usize, &mut [T]) + Sync,
) {
    let total = data.len();
    if total == 0 {
        return;
    }
    let len = len.max(1);
    let base = SendPtr(data.as_mut_ptr());
    for_each(total.div_ceil(len), |i| {
        let start = i * len;
        let end = (start + len).min(total);
        // SAFETY: each index runs once, and the ranges of different indices are
        // disjoint parts of `data`, which is borrowed mutably for the whole call.
        let chunk = unsafe { std::slice::from_raw_parts_mut(base.get().add(start), end - start) };
        task(i, chunk)
    });
}

/// A vector of `n` values (from the buffer shelves) whose chunks of `len` are filled
/// in parallel by `task(i, chunk)`. Each task sets its own chunk to the default (zero)
/// first, in its cache just before writing it, so no thread clears the whole vector
/// alone while the others wait.
pub(crate) fn collect_chunks<T: Copy + Default + Pooled>(
    n: usize,
    len: usize,
    task: impl Fn(usize, &mut [T]) + Sync,
) -> Buf<T> {
    let fill = |i: usize, chunk: &mut [MaybeUninit<T>]| {
        for v in chunk.iter_mut() {
            v.write(T::default());
        }
        // SAFETY: every element of `chunk` was just initialized, and `MaybeUninit<T>`
        // has the layout of `T`.
        let chunk =
            unsafe { std::slice::from_raw_parts_mut(chunk.as_mut_ptr().cast(), chunk.len()) };
        task(i, chunk)
    };
    // SAFETY: `fill` initializes its whole chunk.
    unsafe { collect_written(n, len, fill) }
}

/// A vector of `n` values (from the buffer shelves) whose chunks of `len` are written
/// in parallel by `task(i, chunk)`, with nothing cleared first.
///
/// # Safety
/// `task` must write every element of each chunk it is given.
pub(crate) unsafe fn collect_written<T: Pooled>(
    n: usize,
    len: usize,
    task: impl Fn(usize, &mut [MaybeUninit<T>]) + Sync,
) -> Buf<T> {
    let mut buf = Buf::with_capacity(n);
    let out = buf.vec_mut();
    for_each_chunk_mut(&mut out.spare_capacity_mut()[..n], len, task);
    // SAFETY: the chunks cover all `n` values and the caller promised that each task
    // wrote its own (a panicking task is re-raised above, before this point).
    unsafe { out.set_len(n) };
    buf
}

thread_local! {
    /// Each thread's buffer for the column block it is computing.
    static COLUMN_BLOCK: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A `rows × cols` matrix (row-major, from the buffer shelves) computed in blocks of
/// `width` columns in parallel: `task(block, part)` fills `part`, the block's
/// `rows × n` values (row-major, `n` its columns), and the same thread then copies
/// them into place while they are in its cache.
pub(crate) fn collect_column_blocks(
    rows: usize,
    cols: usize,
    width: usize,
    task: impl Fn(usize, &mut [f32]) + Sync,
) -> Buf<f32> {
    let width = width.max(1);
    let mut buf = Buf::<f32>::with_capacity(rows * cols);
    let out = buf.vec_mut();
    let base = SendPtr(out.as_mut_ptr());
    for_each(cols.div_ceil(width), |block| {
        let first = block * width;
        let n = width.min(cols - first);
        COLUMN_BLOCK.with(|part| {
            let mut part = part.borrow_mut();
            part.clear();
            part.resize(n * rows, 0.0);
            task(block, &mut part);
            for (r, values) in part.chunks_exact(n).enumerate() {
                // SAFETY: row `r`'s columns `first..first + n` lie inside the
                // allocation; blocks cover disjoint columns, so no two tasks write the
                // same element.
                unsafe {
                    let dst = base.get().add(r * cols + first);
                    std::ptr::copy_nonoverlapping(values.as_ptr(), dst, n);
                }
            }
        });
    });
    // SAFETY: the blocks cover all `cols` columns and each wrote every row of its own
    // (a panicking task is re-raised above, before this point).
    unsafe { out.set_len(rows * cols) };
    buf
}

/// A raw pointer the tasks of one loop share.
struct SendPtr<T>(*mut T);

impl<T> Clone for SendPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for SendPtr<T> {}

impl<T> SendPtr<T> {
    /// Through a method, so that closures capture the whole wrapper (which is
    /// `Sync`) rather than its raw-pointer field.
    fn get(self) -> *mut T {
        self.0
    }
}

// SAFETY: the pointer is only used to build disjoint slices of data that is `Send`.
unsafe impl<T: Send> Sync for SendPtr<T> {}
unsafe impl<T: Send> Send for SendPtr<T> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
    }

    #[test]
    fn every_task_runs_once_in_and_out_of_a_team() {
        for threads in [1, 2, 4] {
            pool(threads).install(|| {
                let check = || {
                    for n in [0, 1, 2, 7, 100] {
                        let counts: Vec<AtomicUsize> =
                            (0..n).map(|_| AtomicUsize::new(0)).collect();
                        for_each(n, |i| {
                            counts[i].fetch_add(1, Ordering::Relaxed);
                        });
                        assert!(counts.iter().all(|c| c.load(Ordering::Relaxed) == 1));
                    }
                };
                check();
                run(|| {
                    for _ in 0..50 {
                        check();
                    }
                });
            });
        }
    }

    #[test]
    fn chunks_cover_the_data_exactly() {
        pool(3).install(|| {
            run(|| {
                let mut data = vec![0usize; 103];
                for_each_chunk_mut(&mut data, 10, |i, chunk| {
                    assert!(chunk.len() == 10 || (i == 10 && chunk.len() == 3));
                    for (j, v) in chunk.iter_mut().enumerate() {
                        *v += i * 10 + j;
                    }
                });
                assert_eq!(data, (0..103).collect::<Vec<_>>());
            })
        });
    }

    #[test]
    fn column_blocks_land_in_place() {
        pool(3).install(|| {
            run(|| {
                // 150 columns in blocks of 70: the last one partial.
                let (rows, cols) = (3, 150);
                let y = collect_column_blocks(rows, cols, 70, |block, part| {
                    let n = part.len() / rows;
                    for (i, v) in part.iter_mut().enumerate() {
                        let (r, c) = (i / n, block * 70 + i % n);
                        *v = (r * 1000 + c) as f32;
                    }
                });
                let expected: Vec<f32> = (0..rows)
                    .flat_map(|r| (0..cols).map(move |c| (r * 1000 + c) as f32))
                    .collect();
                assert_eq!(&y[..], &expected[..]);
            })
        });
    }

    #[test]
    fn a_panicking_task_reaches_the_caller_and_the_team_still_finishes() {
        pool(2).install(|| {
            let caught = catch_unwind(|| run(|| for_each(8, |i| assert_ne!(i, 5, "task five"))));
            assert!(caught.is_err());
            // The pool is usable afterwards.
            assert_eq!(run(|| 7), 7);
        });
    }

    #[test]
    fn rayon_loops_inside_a_team_still_finish() {
        pool(2).install(|| {
            let sum: usize = run(|| (0..1000usize).into_par_iter().sum());
            assert_eq!(sum, 499_500);
        });
    }
}
