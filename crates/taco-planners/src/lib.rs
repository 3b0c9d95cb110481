//! Planners: turn an input (a Parquet file, a tile tree, ML split directories, NetCDF files)
//! into a [`Plan`] — ordered members and up to 7 groups — and execute it into a TACO archive
//! whose entries and index are computed from where the bytes really landed (DESIGN §3, §7).
//!
//! A planner only decides *what* goes where; [`execute`] drives `taco-writer`, derives each
//! entry from the written member spans, and writes the JSON index both as the archive's last
//! member `TACO_INDEX.json` and beside it as `<archive>.meta.json`. This crate does no network
//! I/O and never decodes data it only needs to copy.

pub mod cftime;
mod error;
mod execute;
mod files;
mod manifest;
mod netcdf_planner;
mod parquet_planner;
mod plan;
mod splits;
mod tiles;
mod walk;

pub use error::PlanError;
pub use execute::{
    default_output, execute, execute_to, meta_path, source_date_epoch, ExecuteOptions, Executed,
    INDEX_MEMBER,
};
pub use files::{plan_files, plan_named_files, FileEntries, GivenEntry};
pub use netcdf_planner::{
    plan_netcdf, read_file_times, FileTimes, NetcdfOptions, NETCDF_EXTENSIONS,
};
pub use parquet_planner::{plan_parquet, ParquetLayout, ParquetOptions};
pub use plan::{
    Assembled, Group, GroupRange, IndexSection, MemberSource, Plan, PlannedFields, PlannedMember,
};
pub use splits::{plan_splits, SplitOptions};
pub use taco_index::{EntryFields, EntryFiles, MemberFields, INDEX_VERSION};
pub use tiles::{hilbert_index, plan_tiles, MAX_ZOOM};
pub use walk::{walk_files, FoundFile};
