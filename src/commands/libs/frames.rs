//! Frame numbers collected by the scan, sorted and counted without a comparison sort.
//!
//! Frames are kept as `u32` while they fit (every frame of a machine with less than
//! 16 TiB of physical address space), in half the memory of `u64`, and sorted by a radix
//! sort with as many passes as the largest frame needs (two of 11 bits for a machine of
//! 16 GiB, three above): linear, where a comparison sort would be the largest cost of
//! the scan after the kernel's own. The rare larger frame goes to a `u64` list of
//! its own; every frame there is above every `u32` one, so the two lists in turn are one
//! sorted sequence.

/// Below this many frames a list is sorted by comparison: the radix sort's counts cost
/// more than they save.
const SMALL: usize = 256;

/// Frame numbers, sorted by [`Frames::sort`] (and kept sorted by [`Frames::merge`]).
///
/// A `u32` frame may stand for several mappings of it: `reps[i]` more than `low[i]` once
/// ([`Frames::repeat`]), so that a frame every process maps at the same page of a library
/// is one entry rather than one per process; [`Frames::iter`] gives it that many times.
#[derive(Clone, Debug, Default)]
pub(super) struct Frames {
    low: Vec<u32>,
    /// Beside `low`: how many more times each frame was mapped.
    reps: Vec<u32>,
    high: Vec<u64>,
}

/// How many frames a [`Frames`] held, to go back to (see [`Frames::truncate`]).
#[derive(Clone, Copy, Debug)]
pub(super) struct FramesMark(usize, usize);

impl Frames {
    pub(super) fn push(&mut self, pfn: u64) {
        match u32::try_from(pfn) {
            Ok(p) => {
                self.low.push(p);
                self.reps.push(0);
            }
            Err(_) => self.high.push(pfn),
        }
    }

    /// How many `u32` frames the list holds: the index the next one pushed gets.
    pub(super) fn low_len(&self) -> usize {
        self.low.len()
    }

    /// Counts the `u32` frame at index `i` (before sorting) mapped once more.
    pub(super) fn repeat(&mut self, i: u32) {
        if let Some(r) = self.reps.get_mut(i as usize) {
            *r += 1;
        }
    }

    /// Undoes [`Frames::repeat`].
    pub(super) fn unrepeat(&mut self, i: u32) {
        if let Some(r) = self.reps.get_mut(i as usize) {
            *r = r.saturating_sub(1);
        }
    }

    pub(super) fn len(&self) -> usize {
        self.low.len() + self.high.len()
    }

    pub(super) fn mark(&self) -> FramesMark {
        FramesMark(self.low.len(), self.high.len())
    }

    /// Drops the frames pushed since `m` was taken.
    pub(super) fn truncate(&mut self, m: FramesMark) {
        self.low.truncate(m.0);
        self.reps.truncate(m.0);
        self.high.truncate(m.1);
    }

    pub(super) fn sort(&mut self) {
        if self.reps.iter().all(|&r| r == 0) {
            radix_sort(&mut self.low);
        } else {
            // Frames with their repeats, as `frame << 32 | repeats`, sorted by frame.
            let mut both: Vec<u64> = self
                .low
                .iter()
                .zip(&self.reps)
                .map(|(&p, &r)| u64::from(p) << 32 | u64::from(r))
                .collect();
            both.sort_unstable();
            self.low = both.iter().map(|&x| (x >> 32) as u32).collect();
            self.reps = both.iter().map(|&x| x as u32).collect();
        }
        self.high.sort_unstable();
    }

    /// Sorts the frames and drops repeats: when only distinct frames are counted. A list
    /// that is dense enough (its frame numbers no more than 64 times its length) goes
    /// through `scratch`, a bitmap of frame numbers (all clear before and after): one
    /// pass sets the bits, one reads them back in order; no sort at all.
    pub(super) fn sort_dedup(&mut self, scratch: &mut Vec<u64>) {
        dedup_by_bitmap(&mut self.low, scratch);
        self.reps.clear();
        self.reps.resize(self.low.len(), 0);
        self.high.sort_unstable();
        self.high.dedup();
    }

    /// Adds the frames of `o`, both sorted, in one linear merge.
    pub(super) fn merge(&mut self, o: Frames) {
        if self.reps.iter().chain(&o.reps).all(|&r| r == 0) {
            merge_sorted(&mut self.low, o.low);
            self.reps.clear();
            self.reps.resize(self.low.len(), 0);
        } else {
            let pairs = |f: &Frames| -> Vec<(u32, u32)> {
                f.low.iter().copied().zip(f.reps.iter().copied()).collect()
            };
            let mut a = pairs(self);
            merge_sorted(&mut a, pairs(&o));
            self.low = a.iter().map(|x| x.0).collect();
            self.reps = a.iter().map(|x| x.1).collect();
        }
        merge_sorted(&mut self.high, o.high);
    }

    /// The frames, in ascending order once sorted, each as many times as it was mapped.
    pub(super) fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.low
            .iter()
            .zip(&self.reps)
            .flat_map(|(&p, &r)| std::iter::repeat_n(u64::from(p), r as usize + 1))
            .chain(self.high.iter().copied())
    }

    /// The largest frame of the sorted list.
    pub(super) fn last(&self) -> Option<u64> {
        self.high
            .last()
            .copied()
            .or_else(|| self.low.last().map(|&p| u64::from(p)))
    }

    /// The distinct frames of the sorted list, in ascending order.
    pub(super) fn distinct(&self) -> Vec<u64> {
        self.runs().map(|(p, _)| p).collect()
    }

    /// The distinct frames of the sorted list, in ascending order, each with how many
    /// times it was mapped: what [`Frames::iter`] gives, without repeating it.
    pub(super) fn runs(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let low = self
            .low
            .iter()
            .zip(&self.reps)
            .map(|(&p, &r)| (u64::from(p), u64::from(r) + 1));
        let high = self.high.iter().map(|&p| (p, 1));
        let mut all = low.chain(high).peekable();
        std::iter::from_fn(move || {
            let (p, mut n) = all.next()?;
            while let Some((_, m)) = all.next_if(|&(q, _)| q == p) {
                n += m;
            }
            Some((p, n))
        })
    }

    /// The number of distinct frames of the sorted list.
    pub(super) fn count_distinct(&self) -> usize {
        count_distinct(&self.low) + count_distinct(&self.high)
    }
}

fn count_distinct<T: PartialEq>(v: &[T]) -> usize {
    if v.is_empty() {
        return 0;
    }
    1 + v.windows(2).filter(|w| w[0] != w[1]).count()
}

/// Merges sorted `b` into sorted `a`.
fn merge_sorted<T: Copy + Ord + Default>(a: &mut Vec<T>, b: Vec<T>) {
    if b.is_empty() {
        return;
    }
    if a.is_empty() {
        *a = b;
        return;
    }
    if a.last() <= b.first() {
        a.extend_from_slice(&b);
        return;
    }
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if b[j] < a[i] {
            out.push(b[j]);
            j += 1;
        } else {
            out.push(a[i]);
            i += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    *a = out;
}

/// [`Frames::sort_dedup`] of the `u32` frames.
fn dedup_by_bitmap(v: &mut Vec<u32>, scratch: &mut Vec<u64>) {
    let max = v.iter().copied().max().unwrap_or(0);
    let words = max as usize / 64 + 1;
    if v.len() < SMALL || words > v.len() {
        radix_sort(v);
        v.dedup();
        return;
    }
    if scratch.len() < words {
        scratch.resize(words, 0);
    }
    for &p in v.iter() {
        scratch[p as usize / 64] |= 1 << (p % 64);
    }
    v.clear();
    for (i, w) in scratch[..words].iter_mut().enumerate() {
        let mut bits = std::mem::take(w);
        while bits != 0 {
            v.push((i * 64) as u32 + bits.trailing_zeros());
            bits &= bits - 1;
        }
    }
}

/// Sorts `v` ascending: least significant digit first, with as few passes (of at most 11
/// bits) as the largest value needs.
pub(super) fn radix_sort(v: &mut Vec<u32>) {
    if v.len() < SMALL {
        v.sort_unstable();
        return;
    }
    let max = v.iter().copied().max().unwrap_or(0);
    let bits = 32 - max.leading_zeros();
    if bits == 0 {
        return;
    }
    let passes = bits.div_ceil(11);
    let width = bits.div_ceil(passes);
    let mask = (1u32 << width) - 1;
    let mut counts = vec![0usize; 1 << width];
    let mut other: Vec<u32> = vec![0; v.len()];
    for pass in 0..passes {
        let shift = pass * width;
        counts.fill(0);
        for &x in v.iter() {
            counts[((x >> shift) & mask) as usize] += 1;
        }
        // A digit every value shares moves nothing.
        if counts.contains(&v.len()) {
            continue;
        }
        let mut at = 0;
        for c in counts.iter_mut() {
            let n = *c;
            *c = at;
            at += n;
        }
        for &x in v.iter() {
            let d = ((x >> shift) & mask) as usize;
            other[counts[d]] = x;
            counts[d] += 1;
        }
        std::mem::swap(v, &mut other);
    }
}

/// Counts the distinct frames of several sorted lists: a bitmap over the frame numbers
/// when it is no larger than the lists themselves, a sort otherwise.
pub(super) fn count_union(lists: &[&[u64]], frames: &[&Frames]) -> u64 {
    let total: usize = lists.iter().map(|l| l.len()).sum::<usize>()
        + frames.iter().map(|f| f.len()).sum::<usize>();
    let max = lists
        .iter()
        .filter_map(|l| l.last().copied())
        .chain(frames.iter().filter_map(|f| f.last()))
        .max();
    let Some(max) = max else {
        return 0;
    };
    let all = || {
        lists
            .iter()
            .flat_map(|l| l.iter().copied())
            .chain(frames.iter().flat_map(|f| f.iter()))
    };
    let words = max / 64 + 1;
    if words <= total as u64 {
        let mut bits = vec![0u64; words as usize];
        for p in all() {
            bits[(p / 64) as usize] |= 1 << (p % 64);
        }
        bits.iter().map(|w| u64::from(w.count_ones())).sum()
    } else {
        let mut v: Vec<u64> = all().collect();
        v.sort_unstable();
        count_distinct(&v) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A xorshift generator: the same values on every run.
    fn values(n: usize, max: u64, seed: u64) -> Vec<u64> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                s % max
            })
            .collect()
    }

    #[test]
    fn radix_sort_agrees_with_sort() {
        for (n, max) in [
            (0, 1),
            (10, 100),
            (300, 1),
            (5000, 1 << 11),
            (5000, 1 << 22),
            (9000, 1 << 32),
        ] {
            let v: Vec<u32> = values(n, max, 7 + n as u64)
                .into_iter()
                .map(|x| x as u32)
                .collect();
            let mut a = v.clone();
            radix_sort(&mut a);
            let mut b = v;
            b.sort_unstable();
            assert_eq!(a, b, "n={n} max={max}");
        }
    }

    #[test]
    fn dedup_by_bitmap_and_by_sort() {
        let mut scratch = Vec::new();
        for (n, max) in [
            (10, 100),
            (5000, 1 << 12),
            (5000, 1 << 30),
            (20000, 1 << 16),
        ] {
            let mut f = Frames::default();
            for p in values(n, max, 3 + n as u64) {
                f.push(p);
            }
            let mut g = f.clone();
            f.sort_dedup(&mut scratch);
            g.sort();
            assert_eq!(
                f.iter().collect::<Vec<_>>(),
                g.distinct(),
                "n={n} max={max}"
            );
            assert!(scratch.iter().all(|&w| w == 0), "the bitmap is left clear");
        }
    }

    #[test]
    fn frames_above_u32_stay_in_order() {
        let mut f = Frames::default();
        let big = 1u64 << 40;
        for p in [5, big + 1, 3, big, 5, u64::from(u32::MAX)] {
            f.push(p);
        }
        let mark = f.mark();
        f.push(big + 7);
        f.push(1);
        f.truncate(mark);
        f.sort();
        assert_eq!(
            f.iter().collect::<Vec<_>>(),
            [3, 5, 5, u64::from(u32::MAX), big, big + 1]
        );
        assert_eq!(f.count_distinct(), 5);
        assert_eq!(f.distinct(), [3, 5, u64::from(u32::MAX), big, big + 1]);
        let mut g = Frames::default();
        for p in [4, big, 2] {
            g.push(p);
        }
        g.sort();
        f.merge(g);
        assert_eq!(
            f.iter().collect::<Vec<_>>(),
            [2, 3, 4, 5, 5, u64::from(u32::MAX), big, big, big + 1]
        );
    }

    #[test]
    fn repeated_frames_count_as_often() {
        let mut f = Frames::default();
        for p in [9, 4, 7] {
            f.push(p);
        }
        f.repeat(0);
        f.repeat(0);
        f.repeat(2);
        let mark = f.mark();
        f.push(1);
        f.repeat(3);
        f.repeat(1);
        f.unrepeat(1);
        f.unrepeat(3);
        f.truncate(mark);
        f.sort();
        assert_eq!(f.iter().collect::<Vec<_>>(), [4, 7, 7, 9, 9, 9]);
        assert_eq!(f.count_distinct(), 3);
        assert_eq!(f.distinct(), [4, 7, 9]);
        let mut g = Frames::default();
        for p in [7, 2] {
            g.push(p);
        }
        g.repeat(1);
        g.sort();
        f.merge(g);
        assert_eq!(f.iter().collect::<Vec<_>>(), [2, 2, 4, 7, 7, 7, 9, 9, 9]);
        assert_eq!(f.distinct(), [2, 4, 7, 9]);
        assert_eq!(
            f.runs().collect::<Vec<_>>(),
            [(2, 2), (4, 1), (7, 3), (9, 3)]
        );
    }

    #[test]
    fn union_by_bitmap_and_by_sort() {
        let mut a = values(4000, 1 << 12, 1);
        a.sort_unstable();
        let mut b = Frames::default();
        for p in values(4000, 1 << 12, 2) {
            b.push(p);
        }
        b.sort();
        let mut all: Vec<u64> = a.iter().copied().chain(b.iter()).collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(count_union(&[&a], &[&b]), all.len() as u64);
        // Sparse: too large for a bitmap.
        let c = [3, 1u64 << 45, 1 << 45];
        assert_eq!(count_union(&[&c, &[3, 4]], &[]), 3);
        assert_eq!(count_union(&[], &[]), 0);
    }
}
