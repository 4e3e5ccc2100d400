//! Discovery over fake Hugging Face, Ollama, LM Studio and local layouts in temp dirs,
//! with tiny GGUF files written here.
#![cfg(unix)]

use std::error::Error;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use hearth_gguf::{GgmlType, GgufWriter, Value};
use hearth_hub::discovery::{
    Candidate, DiscoveredModel, Discovery, DiscoveryRoots, SkipKind, Skipped, Source, discover,
};

type TestResult = Result<(), Box<dyn Error>>;

/// Writes a tiny GGUF file: the metadata given and, with `tensors`, one small tensor.
fn gguf(path: &Path, meta: &[(&str, Value)], tensors: bool) -> Result<PathBuf, Box<dyn Error>> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let mut w = GgufWriter::new();
    for (key, value) in meta {
        w.metadata(*key, value.clone());
    }
    if tensors {
        w.tensor("token_embd.weight", &[8, 2], GgmlType::F32, vec![0; 64])?;
    }
    w.write(path)?;
    Ok(path.to_owned())
}

fn arch(a: &str) -> (&'static str, Value) {
    ("general.architecture", Value::from(a))
}

fn chat(path: &Path, architecture: &str) -> Result<PathBuf, Box<dyn Error>> {
    gguf(
        path,
        &[
            arch(architecture),
            ("general.file_type", Value::U32(15)),
            ("tokenizer.chat_template", Value::from("{{ messages }}")),
        ],
        true,
    )
}

fn link(target: &Path, at: &Path) -> TestResult {
    if let Some(dir) = at.parent() {
        fs::create_dir_all(dir)?;
    }
    symlink(target, at)?;
    Ok(())
}

fn roots(tmp: &Path) -> DiscoveryRoots {
    DiscoveryRoots {
        huggingface: vec![tmp.join("hf")],
        ollama: vec![tmp.join("ollama")],
        lmstudio: vec![tmp.join("lmstudio")],
        local: vec![tmp.join("local"), tmp.join("does-not-exist")],
        ..DiscoveryRoots::empty()
    }
}

/// A Hugging Face cache: a chat model in two snapshots sharing one blob (main is
/// `rev2`), a projector, a complete split model, a split model missing a part, and a
/// `shared` file whose name LM Studio also has.
fn hugging_face(hf: &Path) -> TestResult {
    let repo = hf.join("models--Owner--Chat-GGUF");
    chat(&repo.join("blobs/aaa111"), "llama")?;
    gguf(&repo.join("blobs/bbb222"), &[arch("clip")], true)?;
    fs::create_dir_all(repo.join("refs"))?;
    fs::write(repo.join("refs/main"), "rev2\n")?;
    for rev in ["rev1", "rev2"] {
        link(
            Path::new("../../blobs/aaa111"),
            &repo.join(format!("snapshots/{rev}/Chat-Q4_K_M.gguf")),
        )?;
    }
    link(
        Path::new("../../blobs/bbb222"),
        &repo.join("snapshots/rev2/mmproj-Chat-f16.gguf"),
    )?;

    let big = hf.join("models--Owner--Big-GGUF");
    for part in 1..=2 {
        let split = [arch("qwen2"), ("split.count", Value::U16(2))];
        gguf(&big.join(format!("blobs/big{part}")), &split, true)?;
        link(
            Path::new(&format!("../../../blobs/big{part}")),
            &big.join(format!(
                "snapshots/r1/Q8_0/Big-Q8_0-0000{part}-of-00002.gguf"
            )),
        )?;
    }
    chat(&big.join("blobs/half"), "qwen2")?;
    link(
        Path::new("../../blobs/half"),
        &big.join("snapshots/r1/Half-00001-of-00002.gguf"),
    )?;

    let shared = hf.join("models--Owner--Shared");
    chat(&shared.join("blobs/sss"), "gemma3")?;
    link(
        Path::new("../../blobs/sss"),
        &shared.join("snapshots/r1/shared.gguf"),
    )?;
    Ok(())
}

fn digest(n: u32) -> String {
    format!("sha256:{n:064x}")
}

fn manifest(ollama: &Path, rel: &str, layers: &[(&str, u32)]) -> TestResult {
    let layers: Vec<serde_json::Value> = layers
        .iter()
        .map(|(kind, n)| {
            serde_json::json!({
                "mediaType": format!("application/vnd.ollama.image.{kind}"),
                "digest": digest(*n),
                "size": 1,
            })
        })
        .collect();
    let path = ollama.join("manifests").join(rel);
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    let body = serde_json::json!({ "schemaVersion": 2, "layers": layers });
    fs::write(path, serde_json::to_vec(&body)?)?;
    Ok(())
}

fn blob(ollama: &Path, n: u32) -> PathBuf {
    ollama.join(format!("blobs/sha256-{n:064x}"))
}

/// An Ollama store: `tiny` under two tags with a projector, an `hf.co` model, an
/// embedding model, and a manifest whose blob is missing.
fn ollama(o: &Path) -> TestResult {
    chat(&blob(o, 1), "llama")?;
    gguf(&blob(o, 2), &[arch("clip")], true)?;
    chat(&blob(o, 3), "qwen2")?;
    gguf(&blob(o, 4), &[arch("nomic-bert")], true)?;
    let lib = "registry.ollama.ai/library";
    manifest(
        o,
        &format!("{lib}/tiny/latest"),
        &[("model", 1), ("projector", 2)],
    )?;
    manifest(
        o,
        &format!("{lib}/tiny/1b"),
        &[("model", 1), ("projector", 2)],
    )?;
    manifest(o, "hf.co/Owner/Repo-GGUF/Q4_K_M", &[("model", 3)])?;
    manifest(
        o,
        &format!("{lib}/nomic-embed-text/latest"),
        &[("model", 4)],
    )?;
    manifest(o, &format!("{lib}/gone/latest"), &[("model", 99)])?;
    Ok(())
}

/// LM Studio: `shared` (clashing with Hugging Face), an embedding model, a LoRA
/// adapter and a truncated file.
fn lm_studio(lm: &Path) -> TestResult {
    chat(&lm.join("pub/repo/shared.gguf"), "qwen2")?;
    gguf(&lm.join("pub/repo/embed.gguf"), &[arch("bert")], true)?;
    let lora = [
        arch("llama"),
        ("general.type", Value::from("adapter")),
        ("adapter.type", Value::from("lora")),
        ("adapter.lora.alpha", Value::F32(32.0)),
        (
            "general.base_model.0.name",
            Value::from("SmolLM2 135M Instruct"),
        ),
        (
            "general.base_model.0.repo_url",
            Value::from("https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct"),
        ),
    ];
    gguf(&lm.join("pub/lora/My-LoRA.gguf"), &lora, true)?;
    let truncated = chat(&lm.join("pub/repo/truncated.gguf"), "llama")?;
    let bytes = fs::read(&truncated)?;
    fs::write(&truncated, &bytes[..bytes.len() / 2])?;
    Ok(())
}

/// Local folder: a vocabulary-only file, a speech model, and a link into the Hugging
/// Face cache under another name.
fn local(dir: &Path, hf: &Path) -> TestResult {
    gguf(&dir.join("vocab.gguf"), &[arch("llama")], false)?;
    gguf(
        &dir.join("deep/whisper-small.gguf"),
        &[arch("whisper")],
        true,
    )?;
    let snapshot = hf.join("models--Owner--Chat-GGUF/snapshots/rev1/Chat-Q4_K_M.gguf");
    link(&snapshot, &dir.join("My-Chat.gguf"))?;
    Ok(())
}

fn everything() -> Result<(tempfile::TempDir, Discovery), Box<dyn Error>> {
    let tmp = tempfile::tempdir()?;
    let t = tmp.path();
    hugging_face(&t.join("hf"))?;
    ollama(&t.join("ollama"))?;
    lm_studio(&t.join("lmstudio"))?;
    local(&t.join("local"), &t.join("hf"))?;
    let discovery = discover(&roots(t));
    Ok((tmp, discovery))
}

fn model<'a>(d: &'a Discovery, name: &str) -> Result<&'a DiscoveredModel, String> {
    d.model(name)
        .ok_or_else(|| format!("no model `{name}` in {:#?}", d.models))
}

fn skipped<'a>(d: &'a Discovery, file_name: &str) -> Result<&'a Skipped, String> {
    d.skipped
        .iter()
        .find(|s| s.path.file_name().is_some_and(|n| n == file_name))
        .ok_or_else(|| format!("`{file_name}` not skipped: {:#?}", d.skipped))
}

#[test]
fn models_from_every_source_are_listed_by_name() -> TestResult {
    let (_tmp, d) = everything()?;
    let names: Vec<&str> = d.models.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "big-q8_0",
            "chat-q4_k_m",
            "hf.co/owner/repo-gguf:q4_k_m",
            "huggingface/shared",
            "lmstudio/shared",
            "tiny:1b",
        ]
    );
    Ok(())
}

#[test]
fn hugging_face_blob_shared_by_snapshots_counts_once_from_main() -> TestResult {
    let (tmp, d) = everything()?;
    let m = model(&d, "chat-q4_k_m")?;
    assert_eq!(
        m.source,
        Source::HuggingFace {
            repo: "Owner/Chat-GGUF".to_owned(),
            revision: "rev2".to_owned(),
        }
    );
    let snapshot = "hf/models--Owner--Chat-GGUF/snapshots/rev2/Chat-Q4_K_M.gguf";
    assert_eq!(m.path, tmp.path().join(snapshot));
    assert_eq!(m.architecture, "llama");
    assert_eq!(m.file_type.as_deref(), Some("Q4_K_M"));
    assert!(m.has_chat_template);
    assert_eq!(m.size_bytes, fs::metadata(&m.path)?.len());
    // The local link to the same blob is the same model.
    assert_eq!(m.aliases, ["my-chat"]);
    Ok(())
}

#[test]
fn split_model_is_one_model_from_its_first_part() -> TestResult {
    let (_tmp, d) = everything()?;
    let m = model(&d, "big-q8_0")?;
    assert_eq!(m.parts.len(), 2);
    assert_eq!(m.path, m.parts[0]);
    assert!(m.path.ends_with("Q8_0/Big-Q8_0-00001-of-00002.gguf"));
    let total: u64 = m
        .parts
        .iter()
        .map(|p| fs::metadata(p).map(|x| x.len()))
        .sum::<Result<_, _>>()?;
    assert_eq!(m.size_bytes, total);
    let half = skipped(&d, "Half-00001-of-00002.gguf")?;
    assert_eq!(half.kind, SkipKind::IncompleteSplit);
    assert!(half.reason.contains("missing part(s) 2"), "{}", half.reason);
    Ok(())
}

#[test]
fn ollama_names_come_from_manifests() -> TestResult {
    let (tmp, d) = everything()?;
    let o = tmp.path().join("ollama");
    let tiny = model(&d, "tiny:1b")?;
    assert_eq!(tiny.aliases, ["tiny:latest"]);
    assert_eq!(tiny.path, blob(&o, 1));
    assert_eq!(tiny.projector.as_deref(), Some(blob(&o, 2).as_path()));
    assert_eq!(
        tiny.source,
        Source::Ollama {
            model: "tiny:1b".to_owned()
        }
    );
    let hf = model(&d, "hf.co/owner/repo-gguf:q4_k_m")?;
    assert_eq!(hf.architecture, "qwen2");
    let embed = d
        .skipped
        .iter()
        .find(|s| s.path == blob(&o, 4))
        .ok_or("nomic-embed-text not skipped")?;
    assert_eq!(embed.kind, SkipKind::Embedding);
    assert!(embed.reason.contains("nomic-bert"), "{}", embed.reason);
    let gone = skipped(&d, "latest")?;
    assert_eq!(gone.kind, SkipKind::Unreadable);
    assert!(gone.path.ends_with("library/gone/latest"));
    assert!(gone.reason.contains("missing"), "{}", gone.reason);
    Ok(())
}

#[test]
fn name_clash_across_sources_prefixes_the_source() -> TestResult {
    let (_tmp, d) = everything()?;
    assert!(d.model("shared").is_none());
    let hf = model(&d, "huggingface/shared")?;
    assert_eq!(hf.architecture, "gemma3");
    let lm = model(&d, "lmstudio/shared")?;
    assert_eq!(lm.architecture, "qwen2");
    assert_eq!(
        lm.source,
        Source::LmStudio {
            repo: Some("pub/repo".to_owned())
        }
    );
    Ok(())
}

#[test]
fn non_chat_files_are_skipped_with_reasons() -> TestResult {
    let (_tmp, d) = everything()?;
    let cases = [
        ("mmproj-Chat-f16.gguf", SkipKind::VisionProjector, "clip"),
        ("embed.gguf", SkipKind::Embedding, "bert"),
        ("vocab.gguf", SkipKind::VocabOnly, "no tensors"),
        ("whisper-small.gguf", SkipKind::Speech, "whisper"),
        ("truncated.gguf", SkipKind::Unreadable, "truncated"),
    ];
    for (file, kind, reason) in cases {
        let s = skipped(&d, file)?;
        assert_eq!(s.kind, kind, "{file}: {}", s.reason);
        assert!(s.reason.contains(reason), "{file}: {}", s.reason);
    }
    // The projector an Ollama manifest names is attached, not skipped.
    assert_eq!(d.skipped.len(), cases.len() + 3, "{:#?}", d.skipped);
    Ok(())
}

#[test]
fn lora_adapter_is_listed_with_its_base() -> TestResult {
    let (_tmp, d) = everything()?;
    assert_eq!(d.adapters.len(), 1);
    let a = d.adapter("my-lora").ok_or("no adapter `my-lora`")?;
    assert_eq!(a.architecture, "llama");
    assert_eq!(a.base_model.as_deref(), Some("SmolLM2 135M Instruct"));
    assert_eq!(
        a.base_model_repo_url.as_deref(),
        Some("https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct")
    );
    assert_eq!(a.lora_alpha, Some(32.0));
    assert!(d.model("my-lora").is_none());
    Ok(())
}

#[test]
fn same_name_within_one_source_is_numbered_deterministically() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    chat(&a.join("Model.gguf"), "llama")?;
    chat(&b.join("model.gguf"), "qwen2")?;
    let roots = DiscoveryRoots {
        local: vec![b.clone(), a.clone()],
        ..DiscoveryRoots::empty()
    };
    for _ in 0..2 {
        let d = discover(&roots);
        let names: Vec<(&str, &Path)> = d
            .models
            .iter()
            .map(|m| (m.name.as_str(), m.path.as_path()))
            .collect();
        assert_eq!(
            names,
            [
                ("local/model", a.join("Model.gguf").as_path()),
                ("local/model-2", b.join("model.gguf").as_path()),
            ]
        );
    }
    Ok(())
}

#[test]
fn discovery_serializes_to_json_with_source_labels() -> TestResult {
    let (_tmp, d) = everything()?;
    let json = serde_json::to_value(&d)?;
    let chat = json["models"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["name"] == "chat-q4_k_m"))
        .ok_or("chat-q4_k_m missing from json")?;
    assert_eq!(chat["source"]["kind"], "huggingface");
    assert_eq!(chat["source"]["repo"], "Owner/Chat-GGUF");
    assert!(json["skipped"][0]["kind"].is_string());
    let back: Discovery = serde_json::from_value(json)?;
    assert_eq!(back, d);
    Ok(())
}

#[test]
fn empty_roots_find_nothing() {
    let d = discover(&DiscoveryRoots::empty());
    assert_eq!(d, Discovery::default());
}

#[test]
fn ollama_adapter_layer_is_listed_with_its_model_as_base() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let o = tmp.path().join("ollama");
    chat(&blob(&o, 1), "llama")?;
    let lora = [
        arch("llama"),
        ("general.type", Value::from("adapter")),
        ("adapter.type", Value::from("lora")),
    ];
    gguf(&blob(&o, 5), &lora, true)?;
    let rel = "registry.ollama.ai/someone/tuned/latest";
    manifest(&o, rel, &[("model", 1), ("adapter", 5)])?;
    let d = discover(&DiscoveryRoots {
        ollama: vec![o.clone()],
        ..DiscoveryRoots::empty()
    });
    let m = model(&d, "someone/tuned:latest")?;
    assert_eq!(m.path, blob(&o, 1));
    assert_eq!(d.adapters.len(), 1, "{:#?}", d.adapters);
    let a = d
        .adapter("someone/tuned:latest-adapter")
        .ok_or("no adapter")?;
    assert_eq!(a.path, blob(&o, 5));
    assert_eq!(a.base_model.as_deref(), Some("someone/tuned:latest"));
    Ok(())
}

/// The real test models (when fetched), linked into a local folder: names, architectures
/// and chat templates come from their metadata.
#[test]
fn real_models_are_classified_from_metadata() -> TestResult {
    use hearth_test_support::{RealModel, real_model};
    let tmp = tempfile::tempdir()?;
    let mut expected = Vec::new();
    for (model, name, architecture, template) in [
        (
            RealModel::SmolLm2,
            "smollm2-135m-instruct.q4_1",
            "llama",
            true,
        ),
        (RealModel::Gemma3, "gemma-3-270m-q4_k_m", "gemma3", false),
    ] {
        let Some(path) = real_model(model) else {
            continue;
        };
        link(&path, &tmp.path().join(model.file_name()))?;
        expected.push((name, architecture, template, fs::metadata(&path)?.len()));
    }
    expected.sort();
    let d = discover(&DiscoveryRoots {
        local: vec![tmp.path().to_owned()],
        ..DiscoveryRoots::empty()
    });
    let found: Vec<(&str, &str, bool, u64)> = d
        .models
        .iter()
        .map(|m| {
            let arch = m.architecture.as_str();
            (m.name.as_str(), arch, m.has_chat_template, m.size_bytes)
        })
        .collect();
    assert_eq!(found, expected);
    assert!(d.skipped.is_empty(), "{:#?}", d.skipped);
    Ok(())
}

#[test]
fn garbage_and_dangling_links_are_skipped_not_fatal() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("models");
    fs::create_dir_all(&dir)?;
    fs::write(
        dir.join("garbage.gguf"),
        b"definitely not a gguf file at all",
    )?;
    fs::write(dir.join("empty.gguf"), b"")?;
    symlink(tmp.path().join("nowhere.gguf"), dir.join("dangling.gguf"))?;
    chat(&dir.join("ok.gguf"), "phi3")?;
    let d = discover(&DiscoveryRoots {
        local: vec![dir.clone()],
        ..DiscoveryRoots::empty()
    });
    assert_eq!(model(&d, "ok")?.architecture, "phi3");
    for (file, reason) in [
        ("garbage.gguf", "not a gguf file"),
        ("empty.gguf", "too small"),
        ("dangling.gguf", "dangling.gguf"),
    ] {
        let s = skipped(&d, file)?;
        assert_eq!(s.kind, SkipKind::Unreadable);
        assert!(s.reason.contains(reason), "{file}: {}", s.reason);
    }
    Ok(())
}

/// Another source (e.g. Hearth's own store) plugs in with candidates of its own:
/// explicit names are kept, and clash with file stems like any other name.
#[test]
fn candidates_from_another_source_share_naming_and_checks() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let store = chat(&tmp.path().join("blobs/sha256-1"), "llama")?;
    let loose = chat(&tmp.path().join("loose/Model.gguf"), "qwen2")?;
    let root = tmp.path().to_owned();
    let named = Candidate {
        name: Some("model".to_owned()),
        ..Candidate::file(store.clone(), Source::Local { root: root.clone() })
    };
    let d = Discovery::from_candidates(
        vec![
            named,
            Candidate::file(loose.clone(), Source::Ollama { model: "x".into() }),
        ],
        Vec::new(),
    );
    let names: Vec<(&str, &Path)> = d
        .models
        .iter()
        .map(|m| (m.name.as_str(), m.path.as_path()))
        .collect();
    assert_eq!(
        names,
        [
            ("local/model", store.as_path()),
            ("ollama/model", loose.as_path())
        ]
    );
    Ok(())
}

#[test]
fn pulled_models_are_listed_under_their_names_and_forgotten_files_are_not() -> TestResult {
    let tmp = tempfile::tempdir()?;
    let home = hearth_hub::HearthHome::new(tmp.path().join("home"));
    let hex = "ab".repeat(32);
    chat(&home.blob_path(&hex), "llama")?;
    hearth_hub::Manifest {
        name: "owner/repo:q4_k_m".into(),
        source: hearth_hub::Source {
            endpoint: "http://hub.test".into(),
            repo: "Owner/Repo".into(),
            revision: "abc123".into(),
            files: vec!["repo-Q4_K_M.gguf".into()],
        },
        blobs: vec![hearth_hub::BlobRef {
            file: "repo-Q4_K_M.gguf".into(),
            digest: format!("sha256:{hex}"),
            size: 1,
        }],
        pulled_at: 0,
    }
    .write(&home)?;
    let kept = chat(&tmp.path().join("local/kept.gguf"), "llama")?;
    let gone = chat(&tmp.path().join("local/gone.gguf"), "llama")?;
    hearth_hub::discovery::forget(&home, &gone)?;
    let roots = DiscoveryRoots {
        hearth: vec![home.root().to_path_buf()],
        local: vec![tmp.path().join("local")],
        ..DiscoveryRoots::empty()
    };
    // A damaged manifest of another model hides only that model, and says so.
    let damaged = home.manifest_path("other", "broken", "q8_0");
    std::fs::create_dir_all(damaged.parent().ok_or("no parent")?)?;
    std::fs::write(&damaged, "{\"name\": \"other/broken:q8_0\", \"blo")?;
    let found = discover(&roots);
    let names: Vec<&str> = found.models.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["kept", "owner/repo:q4_k_m"]);
    assert_eq!(found.models[0].path, kept);
    assert_eq!(found.models[1].source.label(), "hearth");
    assert!(gone.is_file(), "forgetting never deletes the file");
    let broken = found
        .skipped
        .iter()
        .find(|s| s.path == damaged)
        .ok_or_else(|| format!("the damaged manifest is not reported: {:#?}", found.skipped))?;
    assert_eq!(broken.kind, SkipKind::Unreadable);
    assert!(broken.reason.contains("corrupt"), "{}", broken.reason);
    assert!(matches!(&broken.source, Source::Hearth { repo, .. } if repo == "other/broken"));
    Ok(())
}
