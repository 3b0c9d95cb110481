//! The tile planner (DESIGN §7): `z/x/y.ext` files ordered by zoom, then along a Hilbert curve,
//! with one span entry per zoom for the lowest 7 zooms.

use crate::plan::{Group, GroupRange, MemberSource, Plan, PlannedFields, PlannedMember};
use crate::walk::{walk_each, FoundFile};
use crate::PlanError;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;
use taco_format::MAX_ENTRIES;
use taco_index::EntryFields;

/// Deepest zoom accepted: 2^30 tiles a side is beyond any real pyramid and keeps x, y in u32.
pub const MAX_ZOOM: u32 = 30;

pub use taco_format::hilbert_index;

/// One tile found on disk.
#[derive(Debug, Clone)]
struct Tile {
    z: u32,
    x: u32,
    y: u32,
    /// Position along the zoom's Hilbert curve: the sort key after the zoom.
    hilbert: u64,
    ext: String,
    /// The file, when its path under the directory is not the member's name (`03/1/2.png`
    /// is member `3/1/2.png`); `None` for the usual case, which keeps no path at all.
    path: Option<std::path::PathBuf>,
    size: u64,
}

/// Reads `z/x/y.ext`. `Ok(Err(file))`: not shaped like a tile path (other depth, no
/// extension); `Err`: shaped like one but with a bad number.
fn parse_tile(file: FoundFile) -> Result<Result<Tile, FoundFile>, PlanError> {
    let parts: Vec<&str> = file.relative.split('/').collect();
    let shaped = match parts.as_slice() {
        [z, x, name] => name
            .rsplit_once('.')
            .filter(|(y, ext)| !y.is_empty() && !ext.is_empty())
            .map(|(y, ext)| (*z, *x, y, ext)),
        _ => None,
    };
    let Some((z, x, y, ext)) = shaped else {
        return Ok(Err(file));
    };
    let bad = |reason: String| PlanError::BadTilePath {
        path: file.path.clone(),
        reason,
    };
    let number = |what: &str, text: &str| {
        if !text.bytes().all(|b| b.is_ascii_digit()) || text.is_empty() {
            return Err(bad(format!("{what} {text:?} is not a decimal number")));
        }
        text.parse::<u32>()
            .map_err(|_| bad(format!("{what} {text:?} is too large")))
    };
    let (z, x, y) = (number("z", z)?, number("x", x)?, number("y", y)?);
    if z > MAX_ZOOM {
        return Err(bad(format!("zoom {z} is deeper than {MAX_ZOOM}")));
    }
    let side = 1u64 << z;
    if u64::from(x) >= side || u64::from(y) >= side {
        return Err(bad(format!(
            "x {x}, y {y} out of range for zoom {z} (0..{side})"
        )));
    }
    let ext = ext.to_string();
    let canonical = file.relative == format!("{z}/{x}/{y}.{ext}");
    Ok(Ok(Tile {
        z,
        x,
        y,
        hilbert: hilbert_index(z, x, y),
        ext,
        path: (!canonical).then_some(file.path),
        size: file.size,
    }))
}

/// Plans a tile pyramid under `dir` (DESIGN §7): members `z/x/y.ext`, ordered by zoom then
/// Hilbert index; entry *k* is the span of the *k*-th lowest zoom present, for up to 7 zooms.
/// Files that are not shaped like tile paths are left out, with one note.
///
/// # Errors
/// [`PlanError::NoTiles`], [`PlanError::BadTilePath`], and the errors of directory walking.
pub fn plan_tiles(dir: &Path) -> Result<Plan, PlanError> {
    // Each file is parsed as the walk finds it, so the listing is never held whole: a
    // pyramid of millions of tiles keeps only what the plan needs of each.
    let mut tiles = Vec::new();
    let (mut skipped, mut first_skipped) = (0usize, None::<String>);
    // The smallest bad tile path is reported once the walk is done (its errors first), so
    // neither the note nor the error depends on the order the file system lists files in.
    let mut first_bad: Option<(std::path::PathBuf, PlanError)> = None;
    walk_each(dir, &mut |file| {
        match parse_tile(file) {
            Ok(Ok(tile)) => tiles.push(tile),
            Ok(Err(other)) => {
                skipped += 1;
                if first_skipped.as_ref().is_none_or(|f| other.relative < *f) {
                    first_skipped = Some(other.relative);
                }
            }
            Err(bad) => {
                let PlanError::BadTilePath { path, .. } = &bad else {
                    return Err(bad);
                };
                if first_bad.as_ref().is_none_or(|(p, _)| path < p) {
                    first_bad = Some((path.clone(), bad));
                }
            }
        }
        Ok(())
    })?;
    if let Some((_, bad)) = first_bad {
        return Err(bad);
    }
    if tiles.is_empty() {
        return Err(PlanError::NoTiles {
            path: dir.to_path_buf(),
        });
    }
    // Keys compared in place (the Hilbert index computed once, in the walk): no copy of every
    // extension for the sort, whose keys would otherwise be the largest thing in memory.
    tiles.sort_unstable_by(|a, b| (a.z, a.hilbert, &a.ext).cmp(&(b.z, b.hilbert, &b.ext)));

    let mut notes = Vec::new();
    if let Some(first) = first_skipped {
        notes.push(format!(
            "{skipped} file(s) are not tiles (Z/X/Y.EXT) and were left out, e.g. {first}"
        ));
    }
    let mut zooms: Vec<(u32, usize, usize)> = Vec::new(); // (zoom, first member, last member)
    for (i, tile) in tiles.iter().enumerate() {
        match zooms.last_mut() {
            Some((z, _, last)) if *z == tile.z => *last = i,
            _ => zooms.push((tile.z, i, i)),
        }
    }
    if zooms.len() > MAX_ENTRIES {
        notes.push(format!(
            "{} zoom levels: entries cover zooms {}..={}; deeper tiles are reachable through the index",
            zooms.len(),
            zooms[0].0,
            zooms[MAX_ENTRIES - 1].0
        ));
    }
    let groups = zooms
        .iter()
        .take(MAX_ENTRIES)
        .map(|&(z, first, last)| {
            let fields = EntryFields {
                zoom: Some(z),
                tiles: Some((last - first + 1) as u64),
                ..EntryFields::default()
            };
            Group {
                label: format!("zoom {z}"),
                range: GroupRange::Span { first, last },
                fields,
            }
        })
        .collect();
    let zoom_records: Vec<Value> = zooms
        .iter()
        .enumerate()
        .map(|(i, &(z, first, last))| {
            json!({"zoom": z, "tiles": last - first + 1, "entry": (i < MAX_ENTRIES).then_some(i)})
        })
        .collect();
    let total_bytes = tiles.iter().map(|t| t.size).sum();
    let root: Arc<Path> = Arc::from(dir);
    let members = tiles
        .into_iter()
        .map(|t| PlannedMember {
            name: format!("{}/{}/{}.{}", t.z, t.x, t.y, t.ext),
            source: match t.path {
                None => MemberSource::Named {
                    dir: root.clone(),
                    size: t.size,
                },
                Some(path) => MemberSource::Path { path, size: t.size },
            },
            fields: PlannedFields::Tile {
                z: t.z,
                x: t.x,
                y: t.y,
            },
        })
        .collect();
    let section = json!({"zooms": zoom_records, "skipped": skipped});
    Ok(Plan {
        planner: "tiles",
        members,
        groups,
        section: Some(Box::new(move |_| section)),
        notes,
        total_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hilbert_visits_every_cell_once_through_neighbours() {
        for z in 0..6 {
            let side = 1u32 << z;
            let mut cells: Vec<(u64, u32, u32)> = (0..side)
                .flat_map(|x| (0..side).map(move |y| (hilbert_index(z, x, y), x, y)))
                .collect();
            cells.sort();
            let indices: Vec<u64> = cells.iter().map(|c| c.0).collect();
            assert_eq!(indices, (0..u64::from(side * side)).collect::<Vec<_>>());
            for w in cells.windows(2) {
                let step = w[0].1.abs_diff(w[1].1) + w[0].2.abs_diff(w[1].2);
                assert_eq!(step, 1, "zoom {z}: {w:?}");
            }
        }
    }
}
