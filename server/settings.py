"""The gateway's one typed settings object, fed by CLI flags, env vars and a YAML file.

Precedence: CLI flag > `STRUCTSERVE_*` env var > YAML file (`--config`) > default.
Every field's description doubles as its `--help` text.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from server.structured.backend_args import check_backend_args


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "structserve"


class Settings(BaseSettings):
    """Everything `structserve serve` can be told."""

    model_config = SettingsConfigDict(
        env_prefix="STRUCTSERVE_", extra="forbid", validate_default=True
    )

    host: str = Field("127.0.0.1", description="Address the gateway listens on.")
    port: int = Field(8000, ge=0, le=65535, description="Port the gateway listens on.")
    model: str = Field(
        "smollm2-135m-instruct",
        description="A catalog model name (pulled when missing) or a local HF model folder.",
    )
    served_model_name: str | None = Field(
        None, description="Name clients use for the model (default: catalog name or folder name)."
    )
    engine_url: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Attach to already running engines at these base URLs instead of starting "
        "one (comma-separated; repeat a URL's model to load-balance).",
    )
    engine_host: str = Field("127.0.0.1", description="Address the supervised engine binds.")
    engine_port: int = Field(8100, ge=0, le=65535, description="Port of the supervised engine.")
    engine_python: str | None = Field(
        None, description="Python interpreter that runs vLLM (default: this one)."
    )
    engine_args: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Extra vLLM arguments passed through verbatim (e.g. --tensor-parallel-size=2); "
        "also everything after `--` on the command line; the env var is split like a shell.",
    )
    enforce_eager: bool = Field(
        True, description="Run vLLM eagerly (starts in ~40 s instead of ~110 s on CPU)."
    )
    kv_cache_gb: float = Field(
        2.0, gt=0, description="KV cache size in GiB on CPU (VLLM_CPU_KVCACHE_SPACE)."
    )
    native_kernels: Literal["auto", "on", "off"] = Field(
        "auto",
        description="structserve's native CPU linear kernels in the engine "
        "(STRUCTSERVE_NATIVE_KERNELS): auto = where measured faster (the compressed formats; "
        "dense layers keep vLLM's own GEMM), on = everywhere and required, off = vLLM's own "
        "paths. Plain models then load through structserve's quantization config too.",
    )
    cpu_in_process: Literal["auto", "on", "off"] = Field(
        "off",
        description="Run a CPU engine's model inside vLLM's EngineCore process with one OpenMP "
        "thread (VLLM_ENABLE_V1_MULTIPROCESSING=0, OMP_NUM_THREADS=1) instead of a separate "
        "Worker process: no scheduler-to-model round trip each step (docs/benchmarks.md). "
        "auto = on with vLLM's CPU build (vllm-cpu), off = vLLM's default process layout "
        "(the default: three A/B rounds gave 1.14x, 1.07x, 1.00x single stream, not a "
        "consistent win).",
    )
    max_model_len: int | None = Field(
        4096, ge=16, description="Context length the engine serves (None: the model's own)."
    )
    engine_start_timeout_s: float = Field(
        900.0, gt=0, description="How long an engine may take to become healthy."
    )
    restart_backoff_s: float = Field(
        1.0, gt=0, description="First delay before restarting a dead engine (doubles each time)."
    )
    restart_backoff_max_s: float = Field(
        60.0, gt=0, description="Largest delay between engine restarts."
    )
    health_interval_s: float = Field(
        1.0, gt=0, description="How often the supervisor probes engine health."
    )
    health_timeout_s: float = Field(
        5.0,
        gt=0,
        description="A health probe slower than this fails; 3 failures in a row eject a hung "
        "engine (/ready turns false, requests get 503).",
    )
    cache_dir: Path = Field(
        default_factory=_default_cache_dir,
        description="Where pulled models and downloads are kept.",
    )
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="Accepted Bearer API keys (comma-separated); empty means no auth.",
    )
    metrics_require_auth: bool = Field(
        True, description="Require an API key for /metrics when keys are set."
    )
    max_body_bytes: int = Field(
        4 * 1024 * 1024, ge=1024, description="Largest accepted request body in bytes (413 above)."
    )
    max_n: int = Field(16, ge=1, description="Largest `n` (choices per request) accepted.")
    max_outstanding_requests: int = Field(
        256,
        ge=1,
        description="Admission bound: requests in flight to the engines at once; above it new "
        "requests get 429 with Retry-After.",
    )
    body_read_timeout_s: float = Field(
        30.0, gt=0, description="Longest a client may take to send its request body (408 above)."
    )
    request_timeout_s: float = Field(
        600.0, gt=0, description="Longest a request may take end to end (504 above)."
    )
    log_prompts: bool = Field(
        False, description="Log prompt and completion text (off: logs carry request ids only)."
    )
    drain_timeout_s: float = Field(
        30.0, ge=0, description="On SIGTERM, how long in-flight requests may finish before exit."
    )
    log_level: str = Field("info", description="Log level of the gateway.")
    structured_outputs_config: str = Field(
        '{"backend": "guidance", "disable_any_whitespace": true}',
        description="vLLM --structured-outputs-config for the supervised engine (JSON); the "
        "gateway's schema policy assumes the guidance (llguidance) backend.",
    )
    structured_compile_timeout_s: float = Field(
        5.0, gt=0, description="Longest a structured-output grammar may take to compile (400)."
    )
    structured_verdict_timeout_s: float = Field(
        5.0,
        gt=0,
        description="Longest the check of one finished structured output may take; past it the "
        "verdict says unchecked (valid: null) and the engine's finish_reason stands.",
    )
    structured_max_schema_bytes: int = Field(
        256 * 1024, ge=1024, description="Largest accepted JSON schema, compact (400 above)."
    )
    structured_max_blank_run: int = Field(
        32,
        ge=0,
        description="Most consecutive blanks (space, \\n, \\t, other control characters) the "
        "engine may generate inside a JSON string whose schema has no pattern/format/enum/const; "
        "0: unbounded. Only generation is bounded; validation uses the client's schema.",
    )
    structured_safe_integers: bool = Field(
        True,
        description="Generate integers that have no schema bound only within +-(2**53 - 1), the "
        "range every JSON parser holds exactly (RFC 8259); stops endless digit runs.",
    )
    tool_prompt: Literal["builtin", "model"] = Field(
        "builtin",
        description="How chat `tools` reach the model: builtin = the gateway describes them in "
        "the system message and renders tool calls/results as text (any chat template); model "
        "= forwarded to the model's own chat template (tool_choice none). Either way the "
        "gateway's grammar enforces the <tool_call> syntax and the arguments (docs/tools.md).",
    )
    tool_dedupe: bool = Field(
        True,
        description="Send identical tool calls of one answer (same function, same arguments) "
        "once: small models repeat a finished call where parallel calls are allowed, and a "
        "client would run it twice. Dropped repeats are counted in the verdict (docs/tools.md).",
    )
    tool_repeat_stop: bool = Field(
        True,
        description="With tool_dedupe: end an answer at its first repeated tool call (the gateway "
        "reads the engine's stream and closes it), instead of letting a small model repeat the "
        "call until max_tokens. The calls before the repeat are returned (docs/tools.md).",
    )
    structured_close_objects: bool = Field(
        True,
        description="Generate only the properties a JSON schema object names (adds "
        "additionalProperties: false to the grammar, never to validation) where no composition "
        "($ref with siblings, allOf, anyOf beside properties) adds more; the open grammar is "
        "forwarded when the closed one fails to compile.",
    )
    structured_close_on_budget: bool = Field(
        False,
        description="Default of the request field close_on_budget for JSON schema, json_object "
        "and regex requests: when max_tokens runs short, the engine writes the shortest "
        "ending that keeps the document valid, then stops (finish_reason stop). Requests whose "
        "constraint or budget cannot be closed run without it (docs/budget_closing.md).",
    )
    responses_db: Path | None = Field(
        None,
        description="SQLite file of stored /v1/responses responses and conversations "
        "(previous_response_id); default: responses.sqlite under cache_dir. Needs a local "
        "filesystem: one gateway replica per file (docs/responses.md).",
    )
    responses_retention_days: float = Field(
        30.0,
        ge=0,
        description="Stored responses older than this many days are purged (at start-up, then "
        "hourly); 0 keeps them forever.",
    )
    choice_sets_dir: Path | None = Field(
        None,
        description="Where /v1/choice_sets keeps registered sets and their compiled tries "
        "(default: choice_sets under cache_dir); the engines read the same folder "
        "(STRUCTSERVE_CHOICE_SETS_DIR), so gateway replicas and engines share it as a volume.",
    )
    choice_sets_tokenizer: Path | None = Field(
        None,
        description="Model folder whose tokenizer.json/config.json compile choice sets (default: "
        "the served model's folder; needed with --engine-url, where the gateway has no model).",
    )
    choice_set_max_items: int = Field(
        1_000_000, ge=1, description="Most items in one choice set (413 above)."
    )
    choice_set_max_item_chars: int = Field(
        512, ge=1, description="Longest item of a choice set in characters (413 above)."
    )
    choice_set_max_sets: int = Field(256, ge=1, description="Most stored choice sets (413 above).")
    choice_set_schema_max_items: int = Field(
        20_000,
        ge=1,
        description="Largest choice set a JSON schema may embed with x-choice-set (it becomes the "
        "property's enum; llguidance lexes ~40k short strings at most); larger sets only as the "
        "whole output (structured_outputs.choice_set).",
    )
    choice_set_max_builds: int = Field(
        1,
        ge=1,
        description="Registrations (POST /v1/choice_sets) handled at once; more get 429 with "
        "Retry-After. Each tokenizes on every core, and 1M items take ~1 GB while building.",
    )
    choice_set_max_body_bytes: int = Field(
        64 * 1024 * 1024,
        ge=1024,
        description="Largest POST /v1/choice_sets body (a JSON list or an uploaded text file; "
        "413 above); other routes keep max_body_bytes.",
    )
    draft: str | None = Field(
        None,
        description="Speculative decoding draft: a model folder sharing the target's vocabulary, "
        "or `auto` (build a pruned draft of the served model once, cached under cache_dir).",
    )
    draft_auto_args: str = Field(
        "--method layerdrop --keep-layers 6 --distill 100 --distill-prompts 96 "
        "--distill-max-new 64",
        description="`structserve compress draft` options used by --draft auto.",
    )
    speculative_method: Literal["draft_model", "ngram"] | None = Field(
        None,
        description="Speculation method: draft_model (needs --draft) or ngram (prompt lookup); "
        "default: draft_model when --draft is set, else none.",
    )
    num_speculative_tokens: int = Field(
        3, ge=1, le=16, description="Tokens proposed per speculative step."
    )
    ngram_prompt_lookup_max: int = Field(4, ge=1, description="ngram: longest n-gram matched.")
    ngram_prompt_lookup_min: int = Field(2, ge=1, description="ngram: shortest n-gram matched.")

    @field_validator("engine_args", mode="before")
    @classmethod
    def _split_shell_words(cls, value: Any) -> Any:
        return shlex.split(value) if isinstance(value, str) else value

    @field_validator("engine_args")
    @classmethod
    def _check_backend(cls, value: list[str]) -> list[str]:
        check_backend_args(value)  # the policy needs llguidance: refuse any other backend
        return value

    @field_validator("engine_url", "api_keys", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("engine_url")
    @classmethod
    def _check_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"engine URL must start with http:// or https://: {url!r}")
        return [url.rstrip("/") for url in value]

    @field_validator("structured_outputs_config")
    @classmethod
    def _check_json_object(cls, value: str) -> str:
        if value:
            try:
                parsed = json.loads(value)
            except ValueError as exc:
                raise ValueError(f"must be a JSON object: {exc}") from None
            if not isinstance(parsed, dict):
                raise ValueError("must be a JSON object")
        return value

    @model_validator(mode="after")
    def _check_backoff(self) -> Settings:
        if self.restart_backoff_max_s < self.restart_backoff_s:
            raise ValueError("restart_backoff_max_s must be >= restart_backoff_s")
        return self

    def responses_db_path(self) -> Path:
        """The SQLite file of stored responses (`responses_db`, else under `cache_dir`)."""
        return self.responses_db or self.cache_dir / "responses.sqlite"

    def choice_sets_path(self) -> Path:
        """The choice-set store (`choice_sets_dir`, else under `cache_dir`)."""
        return self.choice_sets_dir or self.cache_dir / "choice_sets"

    def api_key_values(self) -> list[str]:
        """The configured API keys as plain strings (never log them)."""
        return [key.get_secret_value() for key in self.api_keys]


def read_yaml(path: Path) -> dict[str, Any]:
    """Parse a settings YAML file into a mapping (keys may use - or _)."""
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: settings YAML must be a mapping, found {type(data).__name__}")
    return {str(key).replace("-", "_"): value for key, value in data.items()}


def load_settings(cli: dict[str, Any] | None = None, yaml_path: Path | None = None) -> Settings:
    """Build validated settings from CLI values, the environment and an optional YAML file."""
    yaml_data = read_yaml(yaml_path) if yaml_path is not None else {}

    class _Loaded(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            yaml_source = InitSettingsSource(settings_cls, yaml_data)  # lowest priority
            return (init_settings, env_settings, yaml_source)

    loaded = _Loaded(**(cli or {}))
    return Settings.model_construct(**loaded.model_dump())
