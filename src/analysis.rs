//! Overhead analysis (placeholder).
/// What a request of one size costs.
pub struct Explanation {
    /// Bytes handed out.
    pub rounded: usize,
    /// Bytes wasted.
    pub waste: usize,
}
/// Explains one request size.
pub fn explain(size: usize) -> Explanation {
    let c = crate::size_class::GO.class_of(size);
    let r = crate::size_class::GO.size(c);
    Explanation {
        rounded: r,
        waste: r - size,
    }
}
