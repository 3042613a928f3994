//! One-line sparklines (`▁▂▃▅█`): the usage line's memory history and the
//! fleet view's error rates and p99s. A missing point (nothing served) is
//! a space, so a gap reads as a gap rather than as zero.

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// `values` scaled so `top` is a full bar (values above it are full too).
pub fn spark(values: &[Option<f64>], top: f64) -> String {
    values
        .iter()
        .map(|v| match v {
            None => ' ',
            Some(_) if top <= 0.0 => BARS[0],
            Some(x) => {
                let level = (x / top * 7.0).ceil().clamp(0.0, 7.0) as usize;
                BARS[level]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_to_the_top_with_gaps_for_nothing() {
        assert_eq!(
            spark(&[Some(0.0), Some(0.5), Some(1.0), None, Some(9.0)], 1.0),
            "▁▅█ █"
        );
        assert_eq!(spark(&[Some(3.0)], 0.0), "▁");
    }
}
