//! The drill's plot: end-to-end p99 (log scale) and the consumer group's lag over time, each
//! fault shaded from its start until the pipeline was healthy again, as a PNG.

use std::path::Path;

use plotters::prelude::*;

use crate::observe::Sample;
use crate::report::FaultRun;

/// The TrueType font the labels are set in (Debian's `fonts-dejavu-core`, which
/// `cargo xtask drill` installs).
const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

pub fn draw(path: &Path, samples: &[Sample], runs: &[FaultRun]) -> anyhow::Result<()> {
    let font = std::fs::read(FONT).map_err(|error| anyhow::anyhow!("reading {FONT}: {error}"))?;
    plotters::style::register_font("sans-serif", FontStyle::Normal, Box::leak(font.into()))
        .map_err(|_| anyhow::anyhow!("{FONT} is not a font plotters can use"))?;
    let seconds = samples.last().map_or(1.0, |sample| sample.at).max(1.0);
    let largest_p99 = samples
        .iter()
        .filter_map(|sample| sample.p99_ms)
        .fold(100.0, f64::max);
    let largest_lag = samples.iter().filter_map(Sample::lag).fold(100, i64::max) as f64;

    let root = BitMapBackend::new(path, (1400, 800)).into_drawing_area();
    root.fill(&WHITE)?;
    let (upper, lower) = root.split_vertically(400);

    let mut latency = ChartBuilder::on(&upper)
        .caption(
            "End-to-end p99 of each second's changes (ms, log scale; gaps: none written)",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..seconds, (1f64..largest_p99 * 1.5).log_scale())?;
    latency
        .configure_mesh()
        .x_desc("seconds since the drill began")
        .draw()?;
    shade_faults(&mut latency, runs, 1.0, largest_p99 * 1.5)?;
    // A second with no change written has no latency: the line breaks there.
    for stretch in samples.split(|sample| sample.p99_ms.is_none()) {
        latency.draw_series(LineSeries::new(
            stretch
                .iter()
                .filter_map(|sample| Some((sample.at, sample.p99_ms?.max(1.0)))),
            &BLUE,
        ))?;
    }

    let mut lag = ChartBuilder::on(&lower)
        .caption(
            "Consumer group lag (messages; gaps: Kafka unreachable)",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..seconds, 0f64..largest_lag * 1.1)?;
    lag.configure_mesh()
        .x_desc("seconds since the drill began")
        .draw()?;
    shade_faults(&mut lag, runs, 0.0, largest_lag * 1.1)?;
    // One line per stretch Kafka answered in, so an outage shows as a gap, not a slope.
    for stretch in samples.split(|sample| sample.lag().is_none()) {
        lag.draw_series(LineSeries::new(
            stretch
                .iter()
                .filter_map(|sample| Some((sample.at, sample.lag()? as f64))),
            &RED,
        ))?;
    }
    root.present()?;
    Ok(())
}

/// Each fault's span, from its start until healthy again (or its window's end), with its name.
fn shade_faults<Y>(
    chart: &mut ChartContext<
        '_,
        BitMapBackend<'_>,
        Cartesian2d<plotters::coord::types::RangedCoordf64, Y>,
    >,
    runs: &[FaultRun],
    bottom: f64,
    top: f64,
) -> anyhow::Result<()>
where
    Y: Ranged<ValueType = f64>,
{
    for run in runs {
        let until = run.healthy.unwrap_or(run.window_end);
        chart.draw_series(std::iter::once(Rectangle::new(
            [(run.started, bottom), (until, top)],
            RGBColor(255, 170, 60).mix(0.25).filled(),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            run.fault.name(),
            (run.started, top),
            ("sans-serif", 14).into_font().color(&BLACK),
        )))?;
    }
    Ok(())
}
