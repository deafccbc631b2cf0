"""Server settings: one typed class, read from SPADE_* environment variables and a .env file."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SPADE_", env_file=".env", extra="ignore",
                                      protected_namespaces=())

    # ---- model ---------------------------------------------------------------------
    model_dir: str = "weights/landscapes"       # model folder: config.json + model.safetensors + labels.json
    device: str = "auto"                        # auto | cpu | cuda | cuda:N | mps
    precision: Literal["auto", "fp32", "fp16", "bf16"] = "auto"  # auto: fp16/bf16 on GPU, bf16 on CPUs with AVX512-BF16/AMX, else fp32
    fast: bool = True                           # Engine's fused inference path
    compile: bool = False                       # torch.compile the generator (for GPUs; slow start; on CPUs the default eager path is faster)
    cpu_workers: int | None = Field(None, ge=1)  # CPU: split a batch over this many single-threaded workers (default: torch's threads; 1: off)

    # ---- edge limits ----------------------------------------------------------------
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024)    # whole request body, enforced while reading
    max_image_pixels: int = Field(4096 * 4096, ge=1)          # per uploaded image, checked from its header
    max_output_size: int = Field(2048, ge=16)                 # longest side the `size` field may ask for

    # ---- queue and batching -----------------------------------------------------------
    max_queue: int = Field(32, ge=1)            # requests waiting for inference; beyond this: 503 + Retry-After
    max_batch: int = Field(8, ge=1)             # most same-size requests in one generator call
    max_wait_ms: float = Field(10.0, ge=0)      # how long the first request of a batch waits for company
    retry_after_s: int = Field(1, ge=1)         # Retry-After sent with 503s

    # ---- uvicorn -------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
