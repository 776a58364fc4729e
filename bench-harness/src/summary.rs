//! From cell records to what the report shows: per cell and server, the median and
//! min–max across rounds; per cell, the ratios ringrpc/other and every server/ceiling
//! computed round by round (servers of one round ran next to each other in time) and then
//! summarised.

use serde::Serialize;

use crate::runner::CellRecord;
use crate::scenario::Scenario;
use crate::servers::ServerKind;

/// p99.9 and max are noisy below this many samples.
pub const FEW_SAMPLES: u64 = 100_000;

pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

/// Median and range of one figure across rounds.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Stat {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Stat {
    pub fn of(values: &[f64]) -> Option<Self> {
        let median = median(values)?;
        let finite = values.iter().copied().filter(|x| x.is_finite());
        Some(Self {
            median,
            min: finite.clone().fold(f64::INFINITY, f64::min),
            max: finite.clone().fold(f64::NEG_INFINITY, f64::max),
            n: finite.count(),
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerCell {
    pub server: ServerKind,
    pub rounds: usize,
    /// Attempts thrown away because the host disturbed them.
    pub reruns: usize,
    /// Final attempts still marked disturbed (retries ran out).
    pub still_disturbed: usize,
    pub throughput: Option<Stat>,
    pub p50_us: Option<Stat>,
    pub p90_us: Option<Stat>,
    pub p99_us: Option<Stat>,
    pub p999_us: Option<Stat>,
    pub max_us: Option<Stat>,
    pub server_cpu_us_per_call: Option<Stat>,
    /// Load generator CPU over the window / window: near 1.0 means it was the bottleneck.
    pub loadgen_busy: Option<Stat>,
    /// Fewest latency samples in one round (p99.9/max are noisy under FEW_SAMPLES).
    pub min_samples: u64,
    pub zero_good_rounds: usize,
    pub errors: u64,
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Ratio {
    pub other: ServerKind,
    /// ringrpc / other, round by round.
    pub throughput: Option<Stat>,
    pub server_cpu_per_call: Option<Stat>,
    pub p99: Option<Stat>,
}

/// One server against the framing ceiling of the same cell: how far it is from the floor.
#[derive(Debug, Clone, Serialize)]
pub struct CeilingRatio {
    pub server: ServerKind,
    /// server / ceiling, round by round.
    pub throughput: Option<Stat>,
    pub server_cpu_per_call: Option<Stat>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CellSummary {
    pub group: String,
    pub workload: String,
    pub loadgen: String,
    pub cell: String,
    pub load_pct: Option<f64>,
    pub servers: Vec<ServerCell>,
    pub ratios: Vec<Ratio>,
    /// Every other server against the ceiling (empty when the group has no ceiling).
    pub vs_ceiling: Vec<CeilingRatio>,
}

impl CellSummary {
    pub fn server(&self, kind: ServerKind) -> Option<&ServerCell> {
        self.servers.iter().find(|s| s.server == kind)
    }
    pub fn ratio(&self, other: ServerKind) -> Option<&Ratio> {
        self.ratios.iter().find(|r| r.other == other)
    }
    pub fn vs_ceiling(&self, server: ServerKind) -> Option<&CeilingRatio> {
        self.vs_ceiling.iter().find(|r| r.server == server)
    }
    pub fn is_open(&self) -> bool {
        self.load_pct.is_some()
    }
}

pub fn summarize(scenario: &Scenario, records: &[CellRecord]) -> Vec<CellSummary> {
    let mut cells: Vec<(String, String)> = Vec::new();
    for r in records {
        let key = (r.group.clone(), r.cell.clone());
        if !cells.contains(&key) {
            cells.push(key);
        }
    }
    cells
        .into_iter()
        .filter_map(|(group_name, cell)| {
            let group = scenario.groups.iter().find(|g| g.name == group_name)?;
            let of = |server: ServerKind| -> Vec<&CellRecord> {
                records
                    .iter()
                    .filter(|r| r.group == group_name && r.cell == cell && r.server == server)
                    .collect()
            };
            let servers: Vec<ServerCell> = group
                .servers
                .iter()
                .map(|&s| server_cell(s, &of(s)))
                .collect();
            let ratios = if group.servers.contains(&ServerKind::Ringrpc) {
                let ours = of(ServerKind::Ringrpc);
                group
                    .servers
                    .iter()
                    .filter(|&&s| s != ServerKind::Ringrpc)
                    .map(|&other| ratio(&ours, &of(other), other))
                    .collect()
            } else {
                Vec::new()
            };
            let vs_ceiling = if group.servers.contains(&ServerKind::Ceiling) {
                let ceiling = of(ServerKind::Ceiling);
                group
                    .servers
                    .iter()
                    .filter(|&&s| s != ServerKind::Ceiling)
                    .map(|&server| {
                        let pairs = same_rounds(&of(server), &ceiling);
                        CeilingRatio {
                            server,
                            throughput: ratio_of(&pairs, &|r| Some(r.sample.throughput_rps)),
                            server_cpu_per_call: ratio_of(&pairs, &|r| {
                                r.sample.server_cpu_us_per_call()
                            }),
                        }
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let load_pct = records
                .iter()
                .find(|r| r.group == group_name && r.cell == cell)?
                .load_pct;
            Some(CellSummary {
                workload: group.payload_label(),
                loadgen: group.loadgen.name().into(),
                group: group_name,
                cell,
                load_pct,
                servers,
                ratios,
                vs_ceiling,
            })
        })
        .collect()
}

fn server_cell(server: ServerKind, all: &[&CellRecord]) -> ServerCell {
    let finals: Vec<&CellRecord> = all.iter().copied().filter(|r| r.is_final()).collect();
    let good: Vec<&CellRecord> = finals
        .iter()
        .copied()
        .filter(|r| r.sample.good > 0)
        .collect();
    let stat = |f: &dyn Fn(&CellRecord) -> Option<f64>| {
        Stat::of(&good.iter().filter_map(|r| f(r)).collect::<Vec<_>>())
    };
    let mut problems: Vec<String> = finals.iter().flat_map(|r| r.problems.clone()).collect();
    problems.dedup();
    ServerCell {
        server,
        rounds: finals.len(),
        reruns: all.len() - finals.len(),
        still_disturbed: finals.iter().filter(|r| !r.disturbed.is_empty()).count(),
        throughput: Stat::of(
            &finals
                .iter()
                .map(|r| r.sample.throughput_rps)
                .collect::<Vec<_>>(),
        ),
        p50_us: stat(&|r| Some(r.sample.latency_us.p50)),
        p90_us: stat(&|r| Some(r.sample.latency_us.p90)),
        p99_us: stat(&|r| Some(r.sample.latency_us.p99)),
        p999_us: stat(&|r| Some(r.sample.latency_us.p999)),
        max_us: stat(&|r| Some(r.sample.latency_us.max)),
        server_cpu_us_per_call: stat(&|r| r.sample.server_cpu_us_per_call()),
        loadgen_busy: stat(&|r| Some(r.sample.loadgen_cpu_s / r.sample.window_s)),
        min_samples: good
            .iter()
            .map(|r| r.sample.latency_us.count)
            .min()
            .unwrap_or(0),
        zero_good_rounds: finals.iter().filter(|r| r.sample.good == 0).count(),
        errors: finals.iter().map(|r| r.sample.errors + r.sample.bad).sum(),
        problems,
    }
}

fn ratio(ours: &[&CellRecord], theirs: &[&CellRecord], other: ServerKind) -> Ratio {
    let pairs = same_rounds(ours, theirs);
    Ratio {
        other,
        throughput: ratio_of(&pairs, &|r| Some(r.sample.throughput_rps)),
        server_cpu_per_call: ratio_of(&pairs, &|r| r.sample.server_cpu_us_per_call()),
        p99: ratio_of(&pairs, &|r| Some(r.sample.latency_us.p99)),
    }
}

/// The final attempts of two servers in the same round, both with good replies.
fn same_rounds<'a>(
    ours: &[&'a CellRecord],
    theirs: &[&'a CellRecord],
) -> Vec<(&'a CellRecord, &'a CellRecord)> {
    ours.iter()
        .filter(|r| r.is_final() && r.sample.good > 0)
        .filter_map(|a| {
            let b = theirs
                .iter()
                .find(|b| b.is_final() && b.round == a.round && b.sample.good > 0)?;
            Some((*a, *b))
        })
        .collect()
}

/// `f(ours) / f(theirs)` per round, summarised.
fn ratio_of(
    pairs: &[(&CellRecord, &CellRecord)],
    f: &dyn Fn(&CellRecord) -> Option<f64>,
) -> Option<Stat> {
    let v: Vec<f64> = pairs
        .iter()
        .filter_map(|(a, b)| Some(f(a)? / f(b)?))
        .filter(|x| x.is_finite())
        .collect();
    Stat::of(&v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::Sample;

    fn record(server: ServerKind, round: usize, rps: f64, cpu_s: f64) -> CellRecord {
        CellRecord {
            group: "g".into(),
            server,
            cell: "1x1".into(),
            round,
            attempt: 1,
            load_pct: None,
            disturbed: vec![],
            superseded: false,
            problems: vec![],
            sample: Sample {
                good: (rps * 2.0) as u64,
                throughput_rps: rps,
                window_s: 2.0,
                server_cpu_s: cpu_s,
                ..Sample::default()
            },
        }
    }

    #[test]
    fn median_of_even_and_odd() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    /// Two rounds of one closed cell ("1x1") of group "g" with these servers.
    fn two_rounds(servers: &str) -> Scenario {
        toml::from_str(&format!(
            r#"
            name = "t"
            rounds = 2
            warmup_s = 0.0
            measure_s = 2.0
            [[group]]
            name = "g"
            workload = "benchmark-message"
            loadgen = "go"
            servers = [{servers}]
            closed = [{{ conns = 1 }}]
            "#
        ))
        .unwrap()
    }

    #[test]
    fn ratios_pair_rounds() {
        let scenario = two_rounds(r#""ringrpc", "grpc-go""#);
        let mut superseded = record(ServerKind::Ringrpc, 1, 1.0, 1.0);
        superseded.superseded = true;
        let records = vec![
            superseded,
            record(ServerKind::Ringrpc, 1, 300.0, 1.0),
            record(ServerKind::GrpcGo, 1, 100.0, 1.0),
            record(ServerKind::Ringrpc, 2, 400.0, 1.0),
            record(ServerKind::GrpcGo, 2, 100.0, 2.0),
        ];
        let cells = summarize(&scenario, &records);
        assert_eq!(cells.len(), 1);
        let r = cells[0].ratio(ServerKind::GrpcGo).unwrap();
        let t = r.throughput.unwrap();
        assert_eq!((t.median, t.min, t.max, t.n), (3.5, 3.0, 4.0, 2));
        let ringrpc = cells[0].server(ServerKind::Ringrpc).unwrap();
        assert_eq!((ringrpc.rounds, ringrpc.reruns), (2, 1));
        // cpu/call: round 1: (1/600) / (1/200) = 1/3; round 2: (1/800) / (2/200) = 1/8.
        let cpu = r.server_cpu_per_call.unwrap();
        assert!((cpu.max - 1.0 / 3.0).abs() < 1e-9 && (cpu.min - 0.125).abs() < 1e-9);
    }

    #[test]
    fn every_server_is_set_against_the_ceiling_of_its_round() {
        let scenario = two_rounds(r#""ringrpc", "tonic", "ceiling""#);
        let records = vec![
            record(ServerKind::Ringrpc, 1, 90.0, 1.2),
            record(ServerKind::Tonic, 1, 30.0, 1.0),
            record(ServerKind::Ceiling, 1, 100.0, 1.0),
            record(ServerKind::Ringrpc, 2, 80.0, 1.6),
            record(ServerKind::Tonic, 2, 40.0, 2.0),
            record(ServerKind::Ceiling, 2, 100.0, 2.0),
        ];
        let cells = summarize(&scenario, &records);
        let cell = &cells[0];
        assert!(cell.vs_ceiling(ServerKind::Ceiling).is_none());
        let ours = cell.vs_ceiling(ServerKind::Ringrpc).unwrap();
        let t = ours.throughput.unwrap();
        assert_eq!((t.min, t.max, t.n), (0.8, 0.9, 2));
        // cpu/call: round 1: (1.2/180) / (1/200) = 4/3; round 2: (1.6/160) / (2/200) = 1.
        let cpu = ours.server_cpu_per_call.unwrap();
        assert!((cpu.max - 4.0 / 3.0).abs() < 1e-9 && (cpu.min - 1.0).abs() < 1e-9);
        // tonic: (1/60) / (1/200) = 10/3 and (2/80) / (2/200) = 2.5.
        let cpu = cell
            .vs_ceiling(ServerKind::Tonic)
            .unwrap()
            .server_cpu_per_call
            .unwrap();
        assert!((cpu.max - 10.0 / 3.0).abs() < 1e-9 && (cpu.min - 2.5).abs() < 1e-9);
        // The ringrpc/other ratios include the ceiling as before.
        assert!(cell.ratio(ServerKind::Ceiling).is_some());
    }
}
