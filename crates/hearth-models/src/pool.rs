//! Buffers a forward pass takes and gives back, so that a decoding step allocates
//! nothing once the first few steps have run.
//!
//! A step needs the same few dozen vectors every time (activations, quantized
//! activations, attention results); a [`Buf`] is one of them, taken from its type's
//! shelf and put back when dropped. The shelves are shared by all threads: a buffer
//! taken by a task on one thread may be dropped on another.

use std::ops::{Deref, DerefMut};
use std::sync::Mutex;

/// Buffers kept on one type's shelf at most; a few more than a step holds at once.
const SHELF_SLOTS: usize = 64;
/// Bytes kept on one type's shelf at most: a long prompt's buffers beyond this go
/// back to the allocator instead of staying resident.
const SHELF_BYTES: usize = 64 << 20;

/// A type whose vectors are kept on a shelf for reuse.
pub(crate) trait Pooled: Sized + Send + 'static {
    fn shelf() -> &'static Mutex<Vec<Vec<Self>>>;

    /// Frees every vector on the shelf.
    fn clear_shelf() {
        lock(Self::shelf()).clear();
    }
}

/// Frees the buffers on every shelf: a model was unloaded, and its buffers (a long
/// prompt's can be tens of megabytes) should not stay resident without it.
pub(crate) fn release_all() {
    f32::clear_shelf();
    u32::clear_shelf();
    usize::clear_shelf();
    crate::quant::clear_shelves();
    crate::attention::clear_shelves();
}

/// Gives each listed type its own shelf.
macro_rules! pooled {
    ($($t:ty),* $(,)?) => {$(
        impl $crate::pool::Pooled for $t {
            fn shelf() -> &'static std::sync::Mutex<Vec<Vec<Self>>> {
                static SHELF: std::sync::Mutex<Vec<Vec<$t>>> = std::sync::Mutex::new(Vec::new());
                &SHELF
            }
        }
    )*};
}
pub(crate) use pooled;

pooled!(f32, u32, usize);

/// A vector taken from its type's shelf, put back (emptied) when dropped.
pub(crate) struct Buf<T: Pooled> {
    items: Vec<T>,
}

impl<T: Pooled> Buf<T> {
    /// An empty vector that holds no memory yet.
    pub(crate) fn new() -> Self {
        Self { items: Vec::new() }
    }

    /// An empty vector with room for at least `n` items: the smallest shelved one that
    /// has it, or a new one.
    pub(crate) fn with_capacity(n: usize) -> Self {
        if n == 0 {
            return Self::new();
        }
        let mut shelf = lock(T::shelf());
        let best = shelf
            .iter()
            .enumerate()
            .filter(|(_, v)| v.capacity() >= n)
            .min_by_key(|(_, v)| v.capacity())
            .map(|(i, _)| i);
        let items = match best {
            Some(i) => shelf.swap_remove(i),
            None => {
                drop(shelf);
                Vec::with_capacity(n)
            }
        };
        Self { items }
    }

    /// `n` copies of `value`.
    pub(crate) fn filled(n: usize, value: T) -> Self
    where
        T: Clone,
    {
        let mut buf = Self::with_capacity(n);
        buf.items.resize(n, value);
        buf
    }

    /// The items of `iter`, which yields at most `n`.
    pub(crate) fn collect(n: usize, iter: impl IntoIterator<Item = T>) -> Self {
        let mut buf = Self::with_capacity(n);
        buf.items.extend(iter);
        buf
    }

    /// The vector itself, to fill or to hand on; it then leaves the shelves for good.
    pub(crate) fn vec_mut(&mut self) -> &mut Vec<T> {
        &mut self.items
    }

    pub(crate) fn into_vec(mut self) -> Vec<T> {
        std::mem::take(&mut self.items)
    }
}

impl<T: Pooled> Drop for Buf<T> {
    fn drop(&mut self) {
        let mut items = std::mem::take(&mut self.items);
        if items.capacity() == 0 {
            return;
        }
        items.clear();
        let mut shelf = lock(T::shelf());
        let bytes = |v: &Vec<T>| v.capacity() * size_of::<T>();
        let held: usize = shelf.iter().map(bytes).sum();
        if shelf.len() < SHELF_SLOTS && held + bytes(&items) <= SHELF_BYTES {
            shelf.push(items);
        }
    }
}

impl<T: Pooled> Deref for Buf<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.items
    }
}

impl<T: Pooled> DerefMut for Buf<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.items
    }
}

impl<T: Pooled + Clone> Clone for Buf<T> {
    fn clone(&self) -> Self {
        Self::collect(self.len(), self.iter().cloned())
    }
}

impl<T: Pooled + PartialEq> PartialEq for Buf<T> {
    fn eq(&self, other: &Self) -> bool {
        self[..] == other[..]
    }
}

impl<T: Pooled + std::fmt::Debug> std::fmt::Debug for Buf<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.items.fmt(f)
    }
}

/// A shelf stays usable after a panic while it was locked: it only holds empty
/// vectors.
fn lock<T>(shelf: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    shelf.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A type of its own, so that no other test touches its shelf.
    #[derive(Clone, Copy, Debug, PartialEq)]
    struct Probe(u64);
    pooled!(Probe);

    #[test]
    fn a_dropped_buffer_is_taken_again_for_a_request_that_fits() {
        let first = Buf::filled(100, Probe(7));
        let ptr = first.as_ptr();
        drop(first);
        let again = Buf::<Probe>::with_capacity(50);
        assert_eq!(again.as_ptr(), ptr);
        assert!(again.is_empty(), "a reused buffer comes back empty");
        let bigger = Buf::<Probe>::with_capacity(1000);
        assert_ne!(bigger.as_ptr(), ptr);
        assert!(bigger.items.capacity() >= 1000);
    }

    #[test]
    fn the_smallest_buffer_that_fits_is_chosen_and_the_shelf_is_bounded() {
        #[derive(Clone, Copy)]
        struct Sized8(#[allow(dead_code)] u64);
        pooled!(Sized8);
        let (small, large) = (Buf::filled(10, Sized8(0)), Buf::filled(1000, Sized8(0)));
        let small_ptr = small.as_ptr();
        drop((large, small));
        assert_eq!(Buf::<Sized8>::with_capacity(5).as_ptr(), small_ptr);
        let many: Vec<_> = (0..2 * SHELF_SLOTS)
            .map(|_| Buf::filled(1, Sized8(0)))
            .collect();
        drop(many);
        assert!(lock(Sized8::shelf()).len() <= SHELF_SLOTS);
    }
}
