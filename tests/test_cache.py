"""The result cache: bounded in bytes, least recently used out first, never keeping one huge image."""

from __future__ import annotations

from fractions import Fraction

from vframe.cache import Key, ResultCache
from vframe.products import Result


def image(size: int) -> Result:
    return Result(b"x" * size, "image/jpeg", 1, 1, (Fraction(0),))


def key(name: str) -> Key:
    return ("/videos/" + name, "v1", "vframe/jpg/offset/0", "1")


def test_it_stays_within_its_bytes_evicting_the_least_recently_used() -> None:
    cache = ResultCache(800)
    for name in "abcdefgh":
        cache.put(key(name), image(100))
    assert cache.bytes == 800 and len(cache) == 8
    assert cache.get(key("a")) is not None  # a is now the most recently used
    cache.put(key("i"), image(100))
    assert cache.bytes == 800
    assert cache.get(key("b")) is None, "b was the least recently used"
    assert cache.get(key("a")) is not None and cache.get(key("i")) is not None


def test_an_image_larger_than_an_eighth_of_the_cache_is_not_kept() -> None:
    cache = ResultCache(800)
    cache.put(key("small"), image(100))
    cache.put(key("huge"), image(101))
    assert cache.get(key("huge")) is None
    assert cache.get(key("small")) is not None and cache.bytes == 100


def test_putting_a_key_again_replaces_it_and_its_bytes() -> None:
    cache = ResultCache(800)
    cache.put(key("a"), image(100))
    cache.put(key("a"), image(50))
    assert cache.bytes == 50 and len(cache) == 1


def test_a_new_version_of_a_video_is_a_different_entry() -> None:
    cache = ResultCache(800)
    cache.put(key("a"), image(10))
    assert cache.get(("/videos/a", "v2", "vframe/jpg/offset/0", "1")) is None


def test_a_zero_sized_cache_keeps_nothing() -> None:
    cache = ResultCache(0)
    cache.put(key("a"), image(1))
    assert len(cache) == 0 and cache.bytes == 0
