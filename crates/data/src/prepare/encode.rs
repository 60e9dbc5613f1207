//! Reading a corpus into a prepared entry: a first pass that checks every part is text and
//! counts its characters, then a second that encodes it into the token file.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{
    FORMAT, META_FILE, PreparePhase, PreparedInfo, TOKENS_FILE, TokenizerChoice, VOCAB_FILE,
};
use crate::corpus::{CorpusPart, InvalidUtf8, ResolvedCorpus};
use crate::error::DataError;
use crate::text_stream::PIECE_BYTES;
use crate::vocab::CharCounts;
use crate::{RareCharacters, TOKENIZER_FILE, TokenWidth, Tokenizer, Vocabulary};

/// Whether each part holds text, what was found reading them, and the character counts.
struct FirstPass {
    included: Vec<bool>,
    counts: CharCounts,
    replaced: usize,
    skipped: usize,
}

/// Reads every part once: checks it is text (a binary file of a directory is skipped, any
/// other is refused) and counts its characters if a vocabulary is to be built.
fn first_pass(
    sources: &ResolvedCorpus,
    count_characters: bool,
    invalid_utf8: InvalidUtf8,
    progress: &mut dyn FnMut(PreparePhase, u64, u64),
) -> Result<FirstPass, DataError> {
    let total = sources.bytes();
    let mut done = 0u64;
    let mut pass = FirstPass {
        included: Vec::with_capacity(sources.parts.len()),
        counts: CharCounts::default(),
        replaced: 0,
        skipped: sources.skipped_files,
    };
    for part in &sources.parts {
        let mut counts = CharCounts::default();
        let mut read_bytes = 0u64;
        let mut visit = |piece: &str| {
            if count_characters {
                counts.add(piece);
            }
            read_bytes += piece.len() as u64;
            progress(PreparePhase::Reading, done + read_bytes, total);
            Ok(())
        };
        let outcome = part.read_pieces(invalid_utf8, &mut visit);
        let in_directory = matches!(
            part,
            CorpusPart::File {
                in_directory: true,
                ..
            }
        );
        match outcome {
            Ok(replaced) => {
                pass.replaced += replaced;
                pass.counts.merge(&counts);
                pass.included.push(true);
            }
            // A code base has images and the like; they are not text to learn.
            Err(DataError::Binary { .. }) if in_directory => {
                pass.skipped += 1;
                pass.included.push(false);
            }
            Err(e) => return Err(e),
        }
        done += part.bytes();
    }
    // Skipped files and replaced bytes leave the count short of the total: say it is done.
    progress(PreparePhase::Reading, total, total);
    if !pass.included.contains(&true) {
        // Every part was a binary file of a directory.
        return Err(DataError::NoTextFiles(PathBuf::from(&sources.label)));
    }
    Ok(pass)
}

/// Prepares `sources` (whose fingerprint is `fingerprint`) into the directory `entry`
/// (created), returning what it wrote.
pub(super) fn write_entry(
    sources: &ResolvedCorpus,
    fingerprint: &str,
    choice: &TokenizerChoice,
    invalid_utf8: InvalidUtf8,
    entry: &Path,
    progress: &mut dyn FnMut(PreparePhase, u64, u64),
) -> Result<PreparedInfo, DataError> {
    let started = Instant::now();
    std::fs::create_dir_all(entry).map_err(|e| DataError::io("create", entry, e))?;
    let build = !matches!(choice, TokenizerChoice::Use(_));
    let pass = first_pass(sources, build, invalid_utf8, progress)?;
    let (tokenizer, rare) = match choice {
        TokenizerChoice::BuildCharacters { max_vocab } => {
            let (vocab, rare) = Vocabulary::from_counts(&pass.counts, *max_vocab);
            (Tokenizer::Characters(vocab), rare)
        }
        TokenizerChoice::Use(tokenizer) => (tokenizer.clone(), RareCharacters::default()),
        TokenizerChoice::ExtendCharacters { base, max_vocab } => {
            let (vocab, rare) = base.extended(&pass.counts, *max_vocab);
            (Tokenizer::Characters(vocab), rare)
        }
    };
    let width = TokenWidth::for_vocab(tokenizer.len());

    let tokens_path = entry.join(TOKENS_FILE);
    let file = File::create(&tokens_path).map_err(|e| DataError::io("create", &tokens_path, e))?;
    let mut encoder = Encoder {
        tokenizer: &tokenizer,
        width,
        out: BufWriter::with_capacity(PIECE_BYTES, file),
        path: &tokens_path,
        ids: Vec::new(),
        bytes: Vec::new(),
        batch: Vec::new(),
        unknown: BTreeSet::new(),
        tokens: 0,
    };
    let total = sources.bytes();
    let mut done = 0u64;
    for (part, _) in sources
        .parts
        .iter()
        .zip(&pass.included)
        .filter(|(_, included)| **included)
    {
        let mut encode = |piece: &str| {
            encoder.push(piece)?;
            done += piece.len() as u64;
            progress(PreparePhase::Encoding, done, total);
            Ok(())
        };
        part.read_pieces(invalid_utf8, &mut encode)?;
    }
    progress(PreparePhase::Encoding, total, total);
    let tokens = encoder.finish()?;
    if tokens == 0 {
        return Err(DataError::Empty(sources.label.clone()));
    }

    match &tokenizer {
        Tokenizer::Characters(vocab) => write_synced(&entry.join(VOCAB_FILE), vocab.to_json())?,
        Tokenizer::HuggingFace(_) => {
            write_synced(&entry.join(TOKENIZER_FILE), tokenizer.to_tokenizer_json()?)?
        }
    }
    let info = PreparedInfo {
        format: FORMAT,
        fingerprint: fingerprint.to_string(),
        width,
        tokens,
        source_bytes: sources.bytes(),
        files: pass.included.iter().filter(|&&i| i).count(),
        skipped_files: pass.skipped,
        replaced_invalid_utf8: pass.replaced,
        rare_distinct: rare.distinct,
        rare_occurrences: rare.occurrences,
        seconds: started.elapsed().as_secs_f64(),
        sources: sources.named().to_vec(),
        tokenizer: tokenizer.describe(),
    };
    let meta = serde_json::to_string_pretty(&info).expect("the info serializes");
    write_synced(&entry.join(META_FILE), meta)?;
    Ok(info)
}

fn write_synced(path: &Path, text: String) -> Result<(), DataError> {
    crate::files::write_synced(path, text.as_bytes()).map_err(|e| DataError::io("write", path, e))
}

/// Encodes pieces of text and appends their ids to the token file.
struct Encoder<'a> {
    tokenizer: &'a Tokenizer,
    width: TokenWidth,
    out: BufWriter<File>,
    path: &'a Path,
    ids: Vec<u32>,
    bytes: Vec<u8>,
    /// Pieces waiting to be encoded together (a `tokenizer.json` encodes several at once, on
    /// all cores).
    batch: Vec<String>,
    unknown: BTreeSet<char>,
    tokens: usize,
}

impl Encoder<'_> {
    fn push(&mut self, piece: &str) -> Result<(), DataError> {
        match self.tokenizer {
            Tokenizer::Characters(vocab) => {
                vocab.encode_into(piece, &mut self.ids, &mut self.unknown);
                self.write_ids()
            }
            Tokenizer::HuggingFace(_) => {
                self.batch.push(piece.to_string());
                let per_batch = 4 * std::thread::available_parallelism().map_or(1, |n| n.get());
                if self.batch.len() >= per_batch {
                    self.encode_batch()?;
                }
                Ok(())
            }
        }
    }

    fn encode_batch(&mut self) -> Result<(), DataError> {
        let Tokenizer::HuggingFace(tokenizer) = self.tokenizer else {
            return Ok(());
        };
        if self.batch.is_empty() {
            return Ok(());
        }
        let pieces = std::mem::take(&mut self.batch);
        let encodings = tokenizer
            .encode_batch_fast(pieces, false)
            .map_err(|e| DataError::Tokenize(e.to_string()))?;
        for encoding in &encodings {
            self.ids.extend_from_slice(encoding.get_ids());
        }
        self.write_ids()
    }

    fn write_ids(&mut self) -> Result<(), DataError> {
        self.bytes.clear();
        self.width.write_ids(&self.ids, &mut self.bytes);
        self.tokens += self.ids.len();
        self.ids.clear();
        self.out
            .write_all(&self.bytes)
            .map_err(|e| DataError::io("write", self.path, e))
    }

    /// Encodes what is left, flushes and syncs the file; returns the number of ids written.
    fn finish(mut self) -> Result<usize, DataError> {
        self.encode_batch()?;
        if !self.unknown.is_empty() {
            return Err(Vocabulary::unknown_error(&self.unknown));
        }
        let file = self
            .out
            .into_inner()
            .map_err(|e| DataError::io("write", self.path, e.into_error()))?;
        file.sync_all()
            .map_err(|e| DataError::io("write", self.path, e))?;
        Ok(self.tokens)
    }
}
