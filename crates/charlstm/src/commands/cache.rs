//! `charlstm cache`: list the prepared corpora in the cache, or remove those no longer wanted.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use anyhow::{Result, bail};
use charlstm_data::{CacheEntry, CorpusLocator, EntryState, list_cache, remove_entry};
use indicatif::{HumanBytes, HumanDuration};

use crate::cli::{CacheAction, CacheArgs};

/// Runs `charlstm cache list` or `charlstm cache clean`.
pub fn run(args: CacheArgs) -> Result<()> {
    let dir = match args.dir {
        Some(dir) => dir,
        None => CorpusLocator::from_env().prepared_dir.ok_or_else(|| {
            anyhow::anyhow!(
                "no cache directory is known (no home directory): set CHARLSTM_PREPARED_DIR \
                 or pass --dir"
            )
        })?,
    };
    match args.action {
        CacheAction::List { json } => list(dir, json),
        CacheAction::Clean {
            unused_for,
            all,
            dry_run,
        } => {
            let policy = match (all, unused_for) {
                (true, _) => CleanPolicy::Everything,
                (false, None) => CleanPolicy::Unusable,
                (false, Some(days)) if days.is_finite() && days >= 0.0 => {
                    CleanPolicy::UnusedFor(Duration::from_secs_f64(days * 86_400.0))
                }
                (false, Some(days)) => {
                    bail!("--unused-for {days} is invalid: give a number of days, 0 or more")
                }
            };
            clean(dir, policy, dry_run)
        }
    }
}

fn list(dir: PathBuf, json: bool) -> Result<()> {
    let entries = list_cache(&dir)?;
    let now = SystemTime::now();
    if json {
        let report: Vec<_> = entries.iter().map(entry_json).collect();
        println!("{}", serde_json::Value::Array(report));
        return Ok(());
    }
    let total: u64 = entries.iter().map(|e| e.bytes).sum();
    println!(
        "{} in {}, {}",
        count(entries.len()),
        dir.display(),
        HumanBytes(total)
    );
    for entry in &entries {
        println!(
            "  {:<22}  {:>10}  {:<20}  {}",
            short_name(entry),
            HumanBytes(entry.bytes).to_string(),
            last_used(entry, now),
            what_it_is(entry)
        );
    }
    if entries.iter().any(CacheEntry::is_unusable) {
        println!("`charlstm cache clean` removes those nothing can use any more");
    }
    Ok(())
}

/// Which entries `charlstm cache clean` removes.
#[derive(Debug, Clone, Copy)]
enum CleanPolicy {
    /// Those nothing can use any more.
    Unusable,
    /// Those, and those not used for this long.
    UnusedFor(Duration),
    /// All but one being prepared right now.
    Everything,
}

impl CleanPolicy {
    /// Why `entry` goes, or `None` if it stays.
    fn reason_to_remove(self, entry: &CacheEntry, now: SystemTime) -> Option<String> {
        if entry.state == (EntryState::Leftover { running: true }) {
            return None;
        }
        if entry.is_unusable() {
            return Some(what_it_is(entry));
        }
        match self {
            Self::Unusable => None,
            Self::Everything => Some("--all".to_string()),
            Self::UnusedFor(limit) => {
                let unused = entry.unused_for(now)?;
                (unused >= limit).then(|| format!("not used for {}", HumanDuration(unused)))
            }
        }
    }
}

fn clean(dir: PathBuf, policy: CleanPolicy, dry_run: bool) -> Result<()> {
    let now = SystemTime::now();
    let (mut removed, mut freed, mut kept, mut kept_bytes) = (0, 0, 0, 0);
    for entry in list_cache(&dir)? {
        let Some(reason) = policy.reason_to_remove(&entry, now) else {
            kept += 1;
            kept_bytes += entry.bytes;
            continue;
        };
        if !dry_run {
            remove_entry(&entry)?;
        }
        println!(
            "{} {} ({}): {reason}",
            if dry_run { "would remove" } else { "removed" },
            short_name(&entry),
            HumanBytes(entry.bytes)
        );
        removed += 1;
        freed += entry.bytes;
    }
    let kept = format!("kept {} ({})", count(kept), HumanBytes(kept_bytes));
    match (removed, dry_run) {
        (0, _) => println!("nothing to remove in {}; {kept}", dir.display()),
        (_, true) => println!(
            "would free {} by removing {}; nothing was removed",
            HumanBytes(freed),
            count(removed)
        ),
        (_, false) => println!(
            "freed {} by removing {}; {kept}",
            HumanBytes(freed),
            count(removed)
        ),
    }
    Ok(())
}

fn count(n: usize) -> String {
    if n == 0 {
        "no prepared corpora".to_string()
    } else if n == 1 {
        "1 prepared corpus".to_string()
    } else {
        format!("{n} prepared corpora")
    }
}

/// The key's first 12 digits, and what kind of leftover it is.
fn short_name(entry: &CacheEntry) -> String {
    let key = &entry.name[..12.min(entry.name.len())];
    match entry.state {
        EntryState::Leftover { .. } if entry.name.contains(".partial-") => {
            format!("{key} (partial)")
        }
        EntryState::Leftover { .. } => format!("{key} (stale)"),
        _ => key.to_string(),
    }
}

fn last_used(entry: &CacheEntry, now: SystemTime) -> String {
    match entry.unused_for(now) {
        None => "used: unknown".to_string(),
        Some(age) if age < Duration::from_secs(60) => "used just now".to_string(),
        Some(age) => format!("used {} ago", HumanDuration(age)),
    }
}

/// A complete entry's contents and sources, or what is wrong with it.
fn what_it_is(entry: &CacheEntry) -> String {
    match (&entry.state, &entry.info) {
        (EntryState::Leftover { running: true }, _) => "being prepared right now".to_string(),
        (EntryState::Leftover { running: false }, _) => {
            "left by an interrupted preparation".to_string()
        }
        (EntryState::Damaged, _) => "damaged (it is prepared again when next used)".to_string(),
        (EntryState::SourcesMissing(missing), _) => {
            format!("its sources are gone: {}", missing.join(", "))
        }
        (EntryState::Ready, Some(info)) => {
            let sources = if info.sources.is_empty() {
                "(sources not recorded)".to_string()
            } else {
                info.sources.join(", ")
            };
            let tokenizer = if info.tokenizer.is_empty() {
                String::new()
            } else {
                format!(", {}", info.tokenizer)
            };
            format!(
                "{} tokens of {} byte(s){tokenizer}; {sources}",
                info.tokens,
                info.width.bytes(),
            )
        }
        (EntryState::Ready, None) => "ready".to_string(),
    }
}

fn entry_json(entry: &CacheEntry) -> serde_json::Value {
    let state = match &entry.state {
        EntryState::Ready => "ready",
        EntryState::SourcesMissing(_) => "sources_missing",
        EntryState::Damaged => "damaged",
        EntryState::Leftover { running: true } => "being_prepared",
        EntryState::Leftover { running: false } => "leftover",
    };
    let missing = match &entry.state {
        EntryState::SourcesMissing(missing) => missing.clone(),
        _ => Vec::new(),
    };
    let last_used = entry
        .last_used
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map(|d| d.as_secs_f64());
    serde_json::json!({
        "name": entry.name,
        "path": entry.path,
        "bytes": entry.bytes,
        "last_used_unix": last_used,
        "state": state,
        "missing_sources": missing,
        "sources": entry.info.as_ref().map(|i| i.sources.clone()),
        "tokenizer": entry.info.as_ref().map(|i| i.tokenizer.clone()),
        "tokens": entry.info.as_ref().map(|i| i.tokens),
        "token_bytes": entry.info.as_ref().map(|i| i.width.bytes()),
        "source_bytes": entry.info.as_ref().map(|i| i.source_bytes),
    })
}
