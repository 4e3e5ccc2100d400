//! From candidates to a [`Discovery`]: drop duplicates, join split parts, open and
//! classify each file (metadata and tensor index only), then give every entry a
//! unique name.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use hearth_gguf::GgufFile;

use super::classify::{Class, classify};
use super::split::{split_name, stem_name};
use super::{Candidate, DiscoveredAdapter, DiscoveredModel, Discovery, SkipKind, Skipped};
use crate::error::error_chain;

/// A candidate with its proposed name and the other names it was found under.
struct Entry {
    candidate: Candidate,
    name: String,
    aliases: Vec<String>,
    /// All parts of a split model in order; empty for a single file.
    parts: Vec<PathBuf>,
}

/// A classified entry waiting for its final name.
enum Listed {
    Model(DiscoveredModel),
    Adapter(DiscoveredAdapter),
}

pub(crate) fn resolve(candidates: Vec<Candidate>, mut skipped: Vec<Skipped>) -> Discovery {
    let entries = dedupe(candidates, &mut skipped);
    let entries = join_splits(entries, &mut skipped);
    let mut listed: Vec<(String, Listed)> = Vec::new();
    for (proposed, opened) in open_all(entries) {
        match opened {
            Ok(item) => listed.push((proposed, item)),
            Err(skip) => skipped.push(skip),
        }
    }
    let mut discovery = Discovery::default();
    for item in assign_names(listed) {
        match item {
            Listed::Model(m) => discovery.models.push(m),
            Listed::Adapter(a) => discovery.adapters.push(a),
        }
    }
    for skip in &skipped {
        tracing::debug!(
            path = %skip.path.display(),
            kind = ?skip.kind,
            reason = %skip.reason,
            "discovery: skipped"
        );
    }
    skipped.sort_by(|a, b| (&a.path, &a.reason).cmp(&(&b.path, &b.reason)));
    skipped.dedup();
    discovery.models.sort_by(|a, b| a.name.cmp(&b.name));
    discovery.adapters.sort_by(|a, b| a.name.cmp(&b.name));
    discovery.skipped = skipped;
    tracing::debug!(
        models = discovery.models.len(),
        adapters = discovery.adapters.len(),
        skipped = discovery.skipped.len(),
        "discovery done"
    );
    discovery
}

/// Keeps one candidate per real file (symlinks resolved), preferring the source with
/// the lowest rank, then the smallest path and name; the others' names become aliases.
fn dedupe(mut candidates: Vec<Candidate>, skipped: &mut Vec<Skipped>) -> Vec<Entry> {
    candidates.sort_by(|a, b| {
        let key = |c: &Candidate| (c.source.rank(), c.path.clone(), c.name.clone());
        key(a).cmp(&key(b))
    });
    let mut entries: Vec<Entry> = Vec::new();
    let mut by_real: HashMap<PathBuf, usize> = HashMap::new();
    for candidate in candidates {
        let real = match fs::canonicalize(&candidate.path) {
            Ok(real) => real,
            Err(error) => {
                skipped.push(super::walk::broken(
                    candidate.path.clone(),
                    candidate.source.clone(),
                    &error,
                ));
                continue;
            }
        };
        let name = candidate
            .name
            .clone()
            .unwrap_or_else(|| stem_name(&candidate.path));
        if let Some(kept) = by_real.get(&real).and_then(|&i| entries.get_mut(i)) {
            if name != kept.name && !kept.aliases.contains(&name) {
                kept.aliases.push(name);
            }
            if kept.candidate.projector.is_none() {
                kept.candidate.projector = candidate.projector;
            }
            continue;
        }
        by_real.insert(real, entries.len());
        entries.push(Entry {
            candidate,
            name,
            aliases: Vec::new(),
            parts: Vec::new(),
        });
    }
    entries
}

/// Joins the parts of split models (same folder, stem and count) into one entry for
/// the first part; a split model with parts missing is skipped as a whole.
fn join_splits(entries: Vec<Entry>, skipped: &mut Vec<Skipped>) -> Vec<Entry> {
    type Key = (PathBuf, String, u32);
    let mut out = Vec::new();
    let mut groups: BTreeMap<Key, BTreeMap<u32, Entry>> = BTreeMap::new();
    for entry in entries {
        match split_name(&entry.candidate.path) {
            Some(split) => {
                let dir = entry.candidate.path.parent().map(Path::to_path_buf);
                let key = (dir.unwrap_or_default(), split.stem, split.count);
                groups.entry(key).or_default().insert(split.part, entry);
            }
            None => out.push(entry),
        }
    }
    for ((_, stem, count), mut parts) in groups {
        let missing: Vec<String> = (1..=count)
            .filter(|n| !parts.contains_key(n))
            .map(|n| n.to_string())
            .collect();
        let paths: Vec<PathBuf> = parts.values().map(|e| e.candidate.path.clone()).collect();
        let Some(source) = parts.values().next().map(|e| e.candidate.source.clone()) else {
            continue;
        };
        match parts.remove(&1) {
            Some(mut first) if missing.is_empty() => {
                first.parts = paths;
                out.push(first);
            }
            _ => {
                skipped.push(Skipped {
                    path: paths.first().cloned().unwrap_or_default(),
                    source,
                    kind: SkipKind::IncompleteSplit,
                    reason: format!(
                        "split model `{stem}` of `{count}` parts is missing part(s) {}",
                        missing.join(", ")
                    ),
                });
            }
        }
    }
    out
}

/// Opens every entry, on up to [`MAX_THREADS`] threads (parsing a large vocabulary
/// takes tens of milliseconds per file), keeping the entries' order.
fn open_all(entries: Vec<Entry>) -> Vec<(String, Result<Listed, Skipped>)> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, MAX_THREADS);
    let open_one = |entry: Entry| (entry.name.clone(), open(entry));
    if threads == 1 || entries.len() < 2 {
        return entries.into_iter().map(open_one).collect();
    }
    let chunk_len = entries.len().div_ceil(threads);
    let mut chunks: Vec<Vec<Entry>> = Vec::new();
    let mut rest = entries.into_iter().peekable();
    while rest.peek().is_some() {
        chunks.push(rest.by_ref().take(chunk_len).collect());
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| scope.spawn(move || chunk.into_iter().map(open_one).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            // A panic while opening is a bug in the GGUF reader; pass it on.
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// Most threads [`open_all`] uses.
const MAX_THREADS: usize = 8;

/// Opens and classifies one entry: the file's metadata and tensor index are read, its
/// tensor data is not.
fn open(entry: Entry) -> Result<Listed, Skipped> {
    let Entry {
        candidate,
        name,
        aliases,
        parts,
    } = entry;
    let path = candidate.path;
    let unreadable = |reason: String| Skipped {
        path: path.clone(),
        source: candidate.source.clone(),
        kind: SkipKind::Unreadable,
        reason,
    };
    let class = GgufFile::open(&path)
        .and_then(|file| classify(&file, &path))
        .map_err(|e| unreadable(error_chain(&e)))?;
    let size_bytes = if parts.is_empty() {
        file_size(&path)
    } else {
        parts.iter().map(|p| file_size(p)).sum()
    };
    match class {
        Class::Model(info) => Ok(Listed::Model(DiscoveredModel {
            name,
            path,
            parts,
            source: candidate.source,
            architecture: info.architecture,
            size_bytes,
            display_name: info.display_name,
            file_type: info.file_type,
            context_length: info.context_length,
            has_chat_template: info.has_chat_template,
            projector: candidate.projector,
            aliases,
        })),
        Class::Adapter(info) => Ok(Listed::Adapter(DiscoveredAdapter {
            name,
            path,
            source: candidate.source,
            architecture: info.architecture,
            base_model: candidate.base_model.or(info.base_model),
            base_model_repo_url: info.base_model_repo_url,
            lora_alpha: info.lora_alpha,
            size_bytes,
        })),
        Class::Skip { kind, reason } => Err(Skipped {
            path,
            source: candidate.source,
            kind,
            reason,
        }),
    }
}

fn file_size(path: &Path) -> u64 {
    fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Gives every entry a unique name: its proposed name when no other entry proposes
/// the same; otherwise `SOURCE/NAME`; a name still taken gets `-2`, `-3`, … in path
/// order.
fn assign_names(listed: Vec<(String, Listed)>) -> Vec<Listed> {
    let mut proposed: HashMap<String, usize> = HashMap::new();
    for (name, _) in &listed {
        *proposed.entry(name.clone()).or_default() += 1;
    }
    let mut wanted: Vec<(String, PathBuf, Listed)> = listed
        .into_iter()
        .map(|(name, item)| {
            let (label, path) = match &item {
                Listed::Model(m) => (m.source.label(), m.path.clone()),
                Listed::Adapter(a) => (a.source.label(), a.path.clone()),
            };
            let wanted = if proposed.get(&name).copied().unwrap_or(0) > 1 {
                format!("{label}/{name}")
            } else {
                name
            };
            (wanted, path, item)
        })
        .collect();
    wanted.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let mut taken: HashSet<String> = HashSet::new();
    let mut out = Vec::with_capacity(wanted.len());
    for (wanted, _, mut item) in wanted {
        let mut name = wanted.clone();
        let mut n = 2;
        while taken.contains(&name) {
            name = format!("{wanted}-{n}");
            n += 1;
        }
        taken.insert(name.clone());
        match &mut item {
            Listed::Model(m) => m.name = name,
            Listed::Adapter(a) => a.name = name,
        }
        out.push(item);
    }
    out
}
