//! Writes an archive of N tiny generated members with the planners' `execute` — index v2
//! (lookup directory and manifest), no files on disk — for the tests' request budgets at up to
//! 10^6 members and for benchmarks.
//!
//! ```sh
//! cargo run --release -p taco-examples --example many_members -- OUT.taco N names
//! cargo run --release -p taco-examples --example many_members -- OUT.taco N tiles
//! cargo run --release -p taco-examples --example many_members -- OUT.taco N times
//! ```
//!
//! `names`: member `i` is `m/{i / 1000:04}/{i:07}.bin` holding the text `member {i}`.
//! `tiles`: the first N tiles of a pyramid in archive order (zoom by zoom, Hilbert order within
//! a zoom), `z/x/y.pbf` holding `tile z/x/y`, with tile keys in the directory.
//! `times`: NetCDF-planner records (no real NetCDF bytes): member `i` is `t/{i:07}.nc`
//! holding `hour {i}`, covering hour `i` after 2000-01-01T00:00:00 (start and end 59 minutes
//! apart), so `taco query` works from the manifest alone (no v1 index is written).

use std::path::Path;
use taco_format::hilbert_index;
use taco_index::CivilTime;
use taco_planners::{
    execute, ExecuteOptions, MemberFields, MemberSource, Plan, PlannedFields, PlannedMember,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out, count, kind] = args.as_slice() else {
        return Err("usage: many_members OUT.taco N names|tiles|times".into());
    };
    let count: u64 = count.parse()?;
    let (planner, members) = match kind.as_str() {
        "names" => ("pack", names(count)),
        "tiles" => ("tiles", tiles(count)?),
        "times" => ("netcdf", times(count)),
        other => return Err(format!("unknown kind {other:?}: names, tiles or times").into()),
    };
    let total_bytes = members
        .iter()
        .map(|m| match &m.source {
            MemberSource::Bytes(b) => b.len() as u64,
            _ => 0,
        })
        .sum();
    let plan = Plan {
        planner,
        members,
        groups: Vec::new(),
        section: None,
        notes: Vec::new(),
        total_bytes,
    };
    let options = ExecuteOptions {
        overwrite: true,
        fixed_time: Some(0),
        ..ExecuteOptions::default()
    };
    let executed = execute(plan, Path::new(out), options)?;
    println!("{out}: {} members, {} bytes", count, executed.archive_len);
    Ok(())
}

fn names(count: u64) -> Vec<PlannedMember> {
    (0..count)
        .map(|i| PlannedMember {
            name: format!("m/{:04}/{i:07}.bin", i / 1000),
            source: MemberSource::Bytes(format!("member {i}").into_bytes()),
            fields: PlannedFields::None,
        })
        .collect()
}

fn tiles(count: u64) -> Result<Vec<PlannedMember>, Box<dyn std::error::Error>> {
    let mut members = Vec::new();
    let mut z = 0u32;
    while (members.len() as u64) < count {
        if z > 12 {
            return Err("more tiles than zooms 0-12 hold".into());
        }
        let side = 1u32 << z;
        let mut zoom: Vec<(u64, u32, u32)> = (0..side)
            .flat_map(|x| (0..side).map(move |y| (hilbert_index(z, x, y), x, y)))
            .collect();
        zoom.sort_unstable();
        let left = (count - members.len() as u64) as usize;
        for (_, x, y) in zoom.into_iter().take(left) {
            members.push(PlannedMember {
                name: format!("{z}/{x}/{y}.pbf"),
                source: MemberSource::Bytes(format!("tile {z}/{x}/{y}").into_bytes()),
                fields: PlannedFields::Tile { z, x, y },
            });
        }
        z += 1;
    }
    Ok(members)
}

fn times(count: u64) -> Vec<PlannedMember> {
    (0..count)
        .map(|i| {
            let start = hour_after_2000(i, 0);
            PlannedMember {
                name: format!("t/{i:07}.nc"),
                source: MemberSource::Bytes(format!("hour {i}").into_bytes()),
                fields: MemberFields {
                    start: Some(start),
                    end: Some(hour_after_2000(i, 59)),
                    calendar: Some("standard".into()),
                    units: Some("hours since 2000-01-01".into()),
                    ..MemberFields::default()
                }
                .into(),
            }
        })
        .collect()
}

/// `minute` minutes into hour `hours` after 2000-01-01T00:00:00 (proleptic Gregorian).
fn hour_after_2000(hours: u64, minute: u32) -> CivilTime {
    let (year, month, day) = taco_format::civil_from_days(10_957 + (hours / 24) as i64);
    let (month, day) = (month as u32, day as u32);
    CivilTime {
        year,
        month,
        day,
        hour: (hours % 24) as u32,
        minute,
        second: 0,
    }
}
