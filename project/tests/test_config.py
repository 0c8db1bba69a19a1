"""Settings: parsing, and the memory limits sized to the instance."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import config
from app.config import WEB_RESERVE_MB, Settings


@pytest.mark.parametrize("memory", [1024, 2048, 4096, 8192])
@pytest.mark.parametrize("slots", [1, 2, 4])
def test_the_jobs_the_store_and_the_web_fit_in_the_instance(memory, slots):
    settings = Settings.from_env({"MEMORY_MB": str(memory), "JOB_SLOTS": str(slots)})
    jobs = (slots + 1) * settings.job_memory_mb  # the slots and the background slot
    if settings.job_memory_mb > 128:  # above the floor, it is a share of what is left
        assert jobs + settings.cache_size_mb + WEB_RESERVE_MB <= memory
    assert 0 < settings.session_quota_mb <= settings.cache_size_mb / 4


def test_a_2_gib_instance_with_one_cpu_gets_what_the_docs_say():
    settings = Settings.from_env({"MEMORY_MB": "2048", "JOB_SLOTS": "1"})
    assert (settings.cache_size_mb, settings.session_quota_mb) == (256, 64)
    assert settings.job_memory_mb == 640


def test_settings_given_are_kept_and_a_zero_quota_stays_off():
    settings = Settings.from_env(
        {
            "MEMORY_MB": "2048",
            "CACHE_SIZE_MB": "100",
            "JOB_MEMORY_MB": "300",
            "SESSION_QUOTA_MB": "0",
        }
    )
    assert (settings.cache_size_mb, settings.job_memory_mb) == (100, 300)
    assert settings.session_quota_mb == 0


def test_the_memory_is_the_containers_limit_when_lower(tmp_path, monkeypatch):
    machine = config.memory_limit_mb()
    assert machine > 0
    v2, v1 = tmp_path / "memory.max", tmp_path / "limit_in_bytes"
    monkeypatch.setattr(config, "CGROUP_MEMORY_LIMITS", (str(v2), str(v1)))
    v2.write_text("max\n")  # no limit: the machine's memory
    assert config.memory_limit_mb() == machine
    v1.write_text(f"{768 * 1024 * 1024}\n")
    assert config.memory_limit_mb() == 768
    assert Settings().memory_mb == 768
    Path(v1).unlink()
    v2.write_text(f"{(machine + 1024) * 1024 * 1024}\n")  # higher: the machine's
    assert config.memory_limit_mb() == machine


def test_a_setting_that_is_not_a_number_says_which():
    with pytest.raises(ValueError, match="MEMORY_MB must be a number, got '2G'"):
        Settings.from_env({"MEMORY_MB": "2G"})
