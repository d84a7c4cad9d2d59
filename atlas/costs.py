"""What a model call costs, for API models and for a local GPU alike, so both sides report $ per resolved issue.

API models are priced per million tokens of each kind. A local model is priced by the
GPU-seconds it holds: the card's price spread over its amortization period plus the
electricity it draws. A request's GPU-seconds are its latency, which over-charges when
requests overlap on one GPU; run totals therefore also record the server's wall time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:  # atlas.models imports this module
    from atlas.models.base import Usage

SECONDS_PER_YEAR = 365 * 24 * 3600


class ApiPricing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["api"] = "api"
    input_per_mtok: float = Field(ge=0)
    cached_input_per_mtok: float = Field(0.0, ge=0)
    cache_write_per_mtok: float = Field(0.0, ge=0)
    output_per_mtok: float = Field(ge=0)

    def cost(self, usage: Usage, gpu_seconds: float = 0.0) -> float:
        fresh = max(0, usage.prompt_tokens - usage.cached_prompt_tokens - usage.cache_write_tokens)
        dollars = (
            fresh * self.input_per_mtok
            + usage.cached_prompt_tokens * self.cached_input_per_mtok
            + usage.cache_write_tokens * self.cache_write_per_mtok
            + usage.completion_tokens * self.output_per_mtok
        )
        return dollars / 1e6


class LocalPricing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["local"] = "local"
    gpu_price_usd: float = Field(ge=0)
    amortization_years: float = Field(3.0, gt=0)
    power_watts: float = Field(ge=0)
    electricity_usd_per_kwh: float = Field(ge=0)

    def per_gpu_second(self) -> float:
        capital = self.gpu_price_usd / (self.amortization_years * SECONDS_PER_YEAR)
        energy = self.power_watts / 1000 * self.electricity_usd_per_kwh / 3600
        return capital + energy

    def cost(self, usage: Usage, gpu_seconds: float = 0.0) -> float:
        return gpu_seconds * self.per_gpu_second()


class FreePricing(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["free"] = "free"

    def cost(self, usage: Usage, gpu_seconds: float = 0.0) -> float:
        return 0.0


Pricing = Annotated[Union[ApiPricing, LocalPricing, FreePricing], Field(discriminator="kind")]
