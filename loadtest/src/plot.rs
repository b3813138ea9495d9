//! `--plot FILE.svg`: latency over time (p50, p99, max per second) and the percentile curve.

use hdrhistogram::Histogram;
use plotters::prelude::*;

use crate::report::Tick;

/// The percentile curve as (nines, latency ms): x = -log10(1 - q), so 90% is 1, 99% is 2, 99.9% is 3.
pub fn percentile_curve(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    (0..=80)
        .map(|i| {
            let nines = i as f64 * 0.05; // up to 99.99%
            let q = 1.0 - 10f64.powf(-nines);
            (nines, h.value_at_quantile(q) as f64 / 1000.0)
        })
        .collect()
}

pub fn draw(
    path: &str,
    title: &str,
    timeline: &[Tick],
    curve: &[(f64, f64)],
) -> Result<(), String> {
    let root = SVGBackend::new(path, (1000, 800)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let (top, bottom) = root.split_vertically(400);
    let t_max = timeline.last().map_or(1.0, |t| t.t_s).max(1.0);
    let l_max = timeline.iter().map(|t| t.max_ms).fold(0.001, f64::max) * 1.1;
    let mut c = ChartBuilder::on(&top)
        .caption(format!("{title}: latency per second"), ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..t_max, 0.0..l_max)
        .map_err(|e| e.to_string())?;
    c.configure_mesh()
        .x_desc("time (s)")
        .y_desc("latency (ms)")
        .draw()
        .map_err(|e| e.to_string())?;
    type Column = (&'static str, fn(&Tick) -> f64, RGBColor);
    let series: [Column; 3] = [
        ("p50", |t| t.p50_ms, BLUE),
        ("p99", |t| t.p99_ms, RED),
        ("max", |t| t.max_ms, BLACK),
    ];
    for (name, f, color) in series {
        c.draw_series(LineSeries::new(
            timeline.iter().map(|t| (t.t_s, f(t))),
            color,
        ))
        .map_err(|e| e.to_string())?
        .label(name)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    c.configure_series_labels()
        .background_style(WHITE)
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())?;
    let y_max = curve.iter().map(|p| p.1).fold(0.001, f64::max) * 1.1;
    let mut p = ChartBuilder::on(&bottom)
        .caption(
            "latency by percentile (x: 1 = p90, 2 = p99, 3 = p99.9, 4 = p99.99)",
            ("sans-serif", 20),
        )
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..4.0, 0.0..y_max)
        .map_err(|e| e.to_string())?;
    p.configure_mesh()
        .x_desc("percentile")
        .x_label_formatter(&|x: &f64| format!("{:.4}%", 100.0 * (1.0 - 10f64.powf(-*x))))
        .y_desc("latency (ms)")
        .draw()
        .map_err(|e| e.to_string())?;
    p.draw_series(LineSeries::new(curve.iter().copied(), RED))
        .map_err(|e| e.to_string())?;
    root.present().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curve_rises_and_ends_near_the_tail() {
        let mut h = crate::report::new_histogram();
        for us in 1..=100_000u64 {
            h.record(us).unwrap();
        }
        let c = percentile_curve(&h);
        assert!(c.windows(2).all(|w| w[0].1 <= w[1].1));
        assert!((c[20].1 - 90.0).abs() < 0.2, "{:?}", c[20]); // nines = 1 → p90 = 90 ms
        assert!(c.last().unwrap().1 > 99.9);
    }
}
