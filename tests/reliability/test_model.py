"""A model check: a Hypothesis state machine drives a real aios3 server and the in-memory
reference model of S3 (``s3model.py``) side by side, and compares every answer.

Each step is one S3 operation with arguments drawn from small alphabets, so that keys
collide, prefixes and delimiters bite and bodies repeat: buckets (create, delete, head,
list), put (with metadata, content types and conditional writes), get (whole, ranges of
every form, If-Match / If-None-Match), head, delete (If-Match), DeleteObjects, ListObjects
v1 and v2 with prefix, delimiter, max-keys, marker / start-after (paginated to the end:
every page and the concatenation must match), copy (within and across buckets, COPY and
REPLACE, copy-source conditions), multipart (create, upload part, complete with good and
bad part lists, abort, list parts, list uploads), and a clean restart on the same data
directory. Answers compare by HTTP status and S3 error code, bodies, ETags, sizes, content
types, metadata, CRC64NVME checksums and listing pages.

Two machines run:

- ``test_model``: an in-process server (no fsync) with clean restarts;
- ``test_model_with_crashes``: the same steps against a ``python -m aios3`` process with
  fsync on, plus crash steps (SIGKILL, then restart): every acknowledged operation must
  survive exactly.

CI runs a reduced size, derandomized (the same examples every run); ``AIOS3_FULL=1``
runs more and longer random examples (Hypothesis prints a failing example's blob to
replay it)::

    AIOS3_FULL=1 python -m pytest -s tests/reliability/test_model.py

``AIOS3_RANDOM=1`` runs the CI size with random examples instead.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tests.reliability import support as proc_support
from tests.reliability.s3model import Page, S3Fault, S3Model
from tests.support import RunningServer, run_server, test_config

FULL = os.environ.get("AIOS3_FULL") == "1"
T = TypeVar("T")

BUCKETS = ["bkt-a", "bkt-b", "bkt-c"]
buckets = st.sampled_from(BUCKETS)
# Keys from a small alphabet with '/', so that keys collide and delimiters bite. Hypothesis
# favours short, simple strings, so a list of nested keys comes first.
NESTED = ["a/b", "a/a", "b/a/b", "a/b/", "a", "/a", "a//b", "ab/a", "b/", "a/b/a", "/", "b"]
keys = st.sampled_from(NESTED) | st.text(alphabet="ab/", min_size=1, max_size=4)
prefixes = st.sampled_from(["", "a", "a/", "b/", "/"]) | st.text(alphabet="ab/", max_size=2)
markers = st.sampled_from(["", "a/", "a/b", "b"]) | st.text(alphabet="ab/", max_size=4)
delimiters = st.sampled_from(["/", "", "a", "/b"])
bodies = st.text(alphabet="xyz", min_size=1, max_size=8).map(str.encode) | st.just(b"")
content_types = st.sampled_from([None, "text/plain", "application/json"])
metadatas = st.dictionaries(
    st.sampled_from(["m1", "m2", "color"]), st.text(alphabet="xyz", min_size=1, max_size=3)
)
page_sizes = st.sampled_from([2, 1, 3, None, 5])
ranges = st.one_of(
    st.builds("bytes={}-{}".format, st.integers(0, 10), st.integers(0, 10)),
    st.builds("bytes={}-".format, st.integers(0, 10)),
    st.builds("bytes=-{}".format, st.integers(0, 10)),
)
# Conditions: none, If-None-Match: *, If-Match with the current ETag, If-Match with another.
write_conditions = st.sampled_from([None, "none-match", "match-current", "match-other"])
read_conditions = st.sampled_from(
    [None, "match-current", "match-other", "none-match-current", "none-match-other", "match-*"]
)
# Hypothesis leans towards small integers: the rare case is the high end.
rarely = st.integers(0, 9).map(lambda n: n == 9)
OTHER_ETAG = '"0123456789abcdef0123456789abcdef"'
BIG_PART = 5 * 1024 * 1024

MAX_RESTARTS = 2  # per example: each costs a server start


class Divergence(AssertionError):
    """The server and the model answered differently."""


# -- servers -----------------------------------------------------------------


class ThreadServer:
    """An in-process server (tests/support.py) on ``root``; restart = stop + start."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._stack = contextlib.ExitStack()
        self.start()

    def start(self) -> None:
        running: RunningServer = self._stack.enter_context(run_server(test_config(self.root)))
        self.client = running.boto3_client(**CLIENT_CONFIG)

    def restart(self) -> None:
        self._stack.close()
        self.start()

    def crash(self) -> None:
        raise NotImplementedError("an in-process server cannot be killed")

    def close(self) -> None:
        self._stack.close()


class ProcessServer:
    """A ``python -m aios3`` process with fsync on; crash = SIGKILL + start."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.start()

    def start(self) -> None:
        self.process = proc_support.start_server(self.root, fsync=True)
        self.client = boto3.client(
            "s3",
            endpoint_url=self.process.endpoint,
            region_name=proc_support.REGION,
            aws_access_key_id=proc_support.ACCESS_KEY,
            aws_secret_access_key=proc_support.SECRET_KEY,
            config=BotoConfig(**CLIENT_CONFIG),
        )

    def restart(self) -> None:
        assert self.process.stop() == 0, self.process.stderr()
        self.start()

    def crash(self) -> None:
        self.process.kill()
        self.start()

    def close(self) -> None:
        self.process.kill()


CLIENT_CONFIG: dict[str, Any] = {
    # Every answer counts once: no retries that could hide an error.
    "retries": {"total_max_attempts": 1, "mode": "standard"},
    # No request checksums unless the operation needs one: objects then get S3's
    # default CRC64NVME, which the model computes.
    "request_checksum_calculation": "when_required",
    "response_checksum_validation": "when_required",
    "connect_timeout": 10,
    "read_timeout": 60,
}

STATS: Counter[str] = Counter()
OUTCOMES: Counter[str] = Counter()  # operation and status


# -- the machine ---------------------------------------------------------------


def _error(caught: ClientError) -> tuple[int, str]:
    response: Any = caught.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def _etag(value: str) -> str:
    return value.strip('"')


class S3Machine(RuleBasedStateMachine):
    """The server and the model, step by step; any difference fails the example."""

    server_class: type[ThreadServer] | type[ProcessServer] = ThreadServer

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="aios3-model-"))
        self.model = S3Model()
        self.server = self.server_class(self.tmp / "data")
        self.upload_ids: list[str] = []
        self.targets: dict[str, tuple[str, str]] = {}  # upload id -> bucket, key
        self.sent_parts: dict[str, list[tuple[int, str]]] = {}  # the last Complete's list
        self.restarts = 0
        STATS["examples"] += 1

    def teardown(self) -> None:
        """Last, a restart (a crash in the crashing machine): everything must be there."""
        try:
            self.final_restart()
        finally:
            self.server.close()
            shutil.rmtree(self.tmp, ignore_errors=True)

    def final_restart(self) -> None:
        self.restart()

    @property
    def s3(self) -> Any:
        return self.server.client

    def both(self, what: str, model: Callable[[], T], server: Callable[[], Any]) -> Any:
        """Run one operation on both sides. Both failed alike: None. Both succeeded: the
        model's and the server's answers, for the caller to compare. Else: Divergence."""
        STATS["requests"] += 1
        STATS[what] += 1
        expected: T | None = None
        fault: S3Fault | None = None
        try:
            expected = model()
        except S3Fault as caught:
            fault = caught
        try:
            got = server()
        except ClientError as caught:
            status, code = _error(caught)
            OUTCOMES[f"{what} {status}-{code}"] += 1
            if fault is None:
                raise Divergence(
                    f"{what}: server answered {status} {code}, model succeeded"
                ) from None
            # A HEAD (or a 304) has no body: boto3 reports the status as the code.
            if (status, code) != (fault.status, fault.code) and not (
                code == str(status) and status == fault.status
            ):
                raise Divergence(
                    f"{what}: server answered {status} {code}, model {fault.status} {fault.code}"
                ) from None
            return None
        OUTCOMES[f"{what} {got['ResponseMetadata']['HTTPStatusCode']}"] += 1
        if fault is not None:
            raise Divergence(
                f"{what}: server succeeded, model answered {fault.status} {fault.code}"
            )
        return expected, got

    @staticmethod
    def same(what: str, expected: object, got: object) -> None:
        if expected != got:
            raise Divergence(f"{what}: model {expected!r}, server {got!r}")

    def choose_key(self, bucket: str, key: str, known: int) -> str:
        """Mostly a key the bucket holds (``known`` picks which), else ``key``."""
        held = sorted(self.model.buckets.get(bucket, {}))
        return held[known % len(held)] if held and known >= 25 else key

    def current_etag(self, bucket: str, key: str) -> str:
        obj = self.model.buckets.get(bucket, {}).get(key)
        return f'"{obj.etag}"' if obj is not None else OTHER_ETAG

    @initialize(
        objects=st.lists(
            st.tuples(st.sampled_from(BUCKETS[:2]), keys, bodies, content_types, metadatas),
            min_size=2,
            max_size=10,
        ),
        upload_key=keys,
        part=bodies,
        two_parts=rarely,
    )
    def some_objects(
        self,
        objects: list[tuple[str, str, bytes, str | None, dict[str, str]]],
        upload_key: str,
        part: bytes,
        two_parts: bool,
    ) -> None:
        """Start with two of the three buckets, a few objects in them and an upload in
        progress with one part, so that most steps find something to act on; now and
        then also an object of two parts (5 MiB and a small last one)."""
        for bucket in BUCKETS[:2]:
            self.create_bucket(bucket)
        for bucket, key, body, content_type, metadata in objects:
            self.put_object(bucket, key, body, content_type, metadata, None)
        if two_parts:
            self.create_upload(
                BUCKETS[1], upload_key, "text/plain", {}, [(part, True), (part, False)]
            )
            self.complete_upload(len(self.upload_ids) - 1, "all", [(1, False)], None, False)
        self.create_upload(BUCKETS[0], upload_key, None, {}, [(part, False)])

    # -- buckets ---------------------------------------------------------------

    @rule(bucket=buckets)
    def create_bucket(self, bucket: str) -> None:
        self.both(
            "CreateBucket",
            lambda: self.model.create_bucket(bucket),
            lambda: self.s3.create_bucket(Bucket=bucket),
        )

    @rule(bucket=buckets)
    def delete_bucket(self, bucket: str) -> None:
        self.both(
            "DeleteBucket",
            lambda: self.model.delete_bucket(bucket),
            lambda: self.s3.delete_bucket(Bucket=bucket),
        )

    @rule(bucket=buckets)
    def head_bucket(self, bucket: str) -> None:
        self.both(
            "HeadBucket",
            lambda: self.model.head_bucket(bucket),
            lambda: self.s3.head_bucket(Bucket=bucket),
        )

    @rule()
    def list_buckets(self) -> None:
        answers = self.both("ListBuckets", self.model.list_buckets, self.s3.list_buckets)
        expected, got = answers
        self.same("ListBuckets", expected, [b["Name"] for b in got.get("Buckets", [])])

    # -- objects ---------------------------------------------------------------

    @rule(
        bucket=buckets,
        key=keys,
        known=st.integers(0, 149),
        body=bodies,
        content_type=content_types,
        metadata=metadatas,
        condition=write_conditions,
    )
    def put_some_object(
        self,
        bucket: str,
        key: str,
        known: int,
        body: bytes,
        content_type: str | None,
        metadata: dict[str, str],
        condition: str | None,
    ) -> None:
        key = self.choose_key(bucket, key, known)
        self.put_object(bucket, key, body, content_type, metadata, condition)

    def put_object(
        self,
        bucket: str,
        key: str,
        body: bytes,
        content_type: str | None,
        metadata: dict[str, str],
        condition: str | None,
    ) -> None:
        args: dict[str, Any] = {"Bucket": bucket, "Key": key, "Body": body, "Metadata": metadata}
        if content_type is not None:
            args["ContentType"] = content_type
        if_match = None
        if condition == "none-match":
            args["IfNoneMatch"] = "*"
        elif condition is not None:
            if_match = (
                self.current_etag(bucket, key) if condition == "match-current" else OTHER_ETAG
            )
            args["IfMatch"] = if_match
        answers = self.both(
            "PutObject",
            lambda: self.model.put_object(
                bucket,
                key,
                body,
                content_type=content_type,
                metadata=metadata,
                if_none_match=condition == "none-match",
                if_match=if_match,
            ),
            lambda: self.s3.put_object(**args),
        )
        if answers is not None:
            expected, got = answers
            self.same("PutObject ETag", expected.etag, _etag(got["ETag"]))

    def _read_conditions(self, bucket: str, key: str, condition: str | None) -> dict[str, str]:
        if condition is None:
            return {}
        if condition == "match-*":
            return {"IfMatch": "*"}
        etag = self.current_etag(bucket, key) if condition.endswith("current") else OTHER_ETAG
        return {"IfNoneMatch" if condition.startswith("none-match") else "IfMatch": etag}

    @rule(
        bucket=buckets,
        key=keys,
        known=st.integers(0, 99),
        range_header=ranges,
        condition=read_conditions,
    )
    def get_some_object(
        self, bucket: str, key: str, known: int, range_header: str, condition: str | None
    ) -> None:
        """A whole GET (with a condition), then a ranged one."""
        key = self.choose_key(bucket, key, known)
        self.get_object(bucket, key, None, condition)
        self.get_object(bucket, key, range_header, None)

    def get_object(
        self, bucket: str, key: str, range_header: str | None, condition: str | None
    ) -> None:
        conditions = self._read_conditions(bucket, key, condition)
        args: dict[str, Any] = {"Bucket": bucket, "Key": key, "ChecksumMode": "ENABLED"}
        args.update(conditions)
        if range_header is not None:
            args["Range"] = range_header

        def server() -> dict[str, Any]:
            got: dict[str, Any] = self.s3.get_object(**args)
            got["Body"] = got["Body"].read()
            return got

        answers = self.both(
            "GetObject",
            lambda: self.model.get_object(
                bucket,
                key,
                range_header=range_header,
                if_match=conditions.get("IfMatch"),
                if_none_match=conditions.get("IfNoneMatch"),
            ),
            server,
        )
        if answers is None:
            return
        expected, got = answers
        what = f"GetObject {bucket}/{key} {range_header}"
        self.same(f"{what} status", expected.status, got["ResponseMetadata"]["HTTPStatusCode"])
        STATS[f"reads with {expected.status}"] += 1
        self.same(f"{what} body", expected.body, got["Body"])
        self.same(f"{what} Content-Range", expected.content_range, got.get("ContentRange"))
        self.same(f"{what} Content-Length", len(expected.body), got["ContentLength"])
        checksum = expected.obj.checksum if expected.status == 200 else None
        self.same(f"{what} checksum", checksum, got.get("ChecksumCRC64NVME"))
        self._same_object(what, expected.obj, got)

    def _same_object(self, what: str, expected: Any, got: dict[str, Any]) -> None:
        self.same(f"{what} ETag", expected.etag, _etag(got["ETag"]))
        self.same(f"{what} Content-Type", expected.content_type, got["ContentType"])
        self.same(f"{what} metadata", dict(expected.metadata), got["Metadata"])

    @rule(bucket=buckets, key=keys, known=st.integers(0, 99), condition=read_conditions)
    def head_object(self, bucket: str, key: str, known: int, condition: str | None) -> None:
        key = self.choose_key(bucket, key, known)
        conditions = self._read_conditions(bucket, key, condition)
        answers = self.both(
            "HeadObject",
            lambda: self.model.head_object(
                bucket,
                key,
                if_match=conditions.get("IfMatch"),
                if_none_match=conditions.get("IfNoneMatch"),
            ),
            lambda: self.s3.head_object(
                Bucket=bucket, Key=key, ChecksumMode="ENABLED", **conditions
            ),
        )
        if answers is not None:
            expected, got = answers
            what = f"HeadObject {bucket}/{key}"
            self.same(f"{what} Content-Length", expected.size, got["ContentLength"])
            self.same(f"{what} checksum", expected.checksum, got.get("ChecksumCRC64NVME"))
            self._same_object(what, expected, got)

    @rule(
        bucket=buckets,
        key=keys,
        known=st.integers(0, 99),
        condition=st.sampled_from([None, "current", "other"]),
    )
    def delete_object(self, bucket: str, key: str, known: int, condition: str | None) -> None:
        key = self.choose_key(bucket, key, known)
        if_match = None
        if condition is not None:
            if_match = self.current_etag(bucket, key) if condition == "current" else OTHER_ETAG
        extra = {} if if_match is None else {"IfMatch": if_match}
        self.both(
            "DeleteObject",
            lambda: self.model.delete_object(bucket, key, if_match=if_match),
            lambda: self.s3.delete_object(Bucket=bucket, Key=key, **extra),
        )

    @rule(
        bucket=buckets,
        chosen=st.lists(keys, min_size=1, max_size=5, unique=True),
        quiet=st.booleans(),
    )
    def delete_objects(self, bucket: str, chosen: list[str], quiet: bool) -> None:
        answers = self.both(
            "DeleteObjects",
            lambda: self.model.delete_objects(bucket, chosen),
            lambda: self.s3.delete_objects(
                Bucket=bucket,
                Delete={"Objects": [{"Key": key} for key in chosen], "Quiet": quiet},
            ),
        )
        if answers is not None:
            expected, got = answers
            deleted = [d["Key"] for d in got.get("Deleted", [])]
            self.same("DeleteObjects Deleted", [] if quiet else expected, deleted)
            self.same("DeleteObjects Errors", [], got.get("Errors", []))

    # -- listing ---------------------------------------------------------------

    @staticmethod
    def _contents(page: dict[str, Any]) -> list[tuple[str, str, int]]:
        return [(c["Key"], _etag(c["ETag"]), c["Size"]) for c in page.get("Contents", [])]

    @staticmethod
    def _model_contents(page: Page) -> list[tuple[str, str, int]]:
        return [(e.key, e.etag, e.size) for e in page.contents]

    @staticmethod
    def _prefixes(page: dict[str, Any]) -> list[str]:
        return [p["Prefix"] for p in page.get("CommonPrefixes", [])]

    @rule(
        bucket=buckets,
        prefix=prefixes,
        delimiter=delimiters,
        marker=markers,
        max_keys=page_sizes,
    )
    def list_objects(
        self, bucket: str, prefix: str, delimiter: str, marker: str, max_keys: int | None
    ) -> None:
        """The same listing through ListObjects and ListObjectsV2 (marker = start-after)."""
        self.list_objects_v1(bucket, prefix, delimiter, marker, max_keys)
        self.list_objects_v2(bucket, prefix, delimiter, marker, max_keys)

    def list_objects_v1(
        self, bucket: str, prefix: str, delimiter: str, marker: str, max_keys: int | None
    ) -> None:
        """ListObjects (v1), paginated to the end from ``marker``."""
        args: dict[str, Any] = {"Bucket": bucket}
        for name, value in (("Prefix", prefix), ("Delimiter", delimiter)):
            if value:
                args[name] = value
        if max_keys is not None:
            args["MaxKeys"] = max_keys
        limit = 1000 if max_keys is None else max_keys
        start = marker
        contents: list[tuple[str, str, int]] = []
        common: list[str] = []
        for number in range(100):
            what = f"ListObjects page {number} {args} marker={marker!r}"
            if marker:
                args["Marker"] = marker
            answers = self.both(
                "ListObjects",
                partial(
                    self.model.list_objects,
                    bucket,
                    prefix=prefix,
                    delimiter=delimiter,
                    marker=marker,
                    max_keys=limit,
                ),
                lambda: self.s3.list_objects(**args),
            )
            if answers is None:
                return
            expected, got = answers
            self.same(f"{what} contents", self._model_contents(expected), self._contents(got))
            self.same(f"{what} prefixes", expected.prefixes, self._prefixes(got))
            self.same(f"{what} truncated", expected.truncated, got["IsTruncated"])
            self.same(f"{what} NextMarker", expected.next_marker, got.get("NextMarker"))
            contents += self._contents(got)
            common += self._prefixes(got)
            if not got["IsTruncated"]:
                break
            # Without a delimiter, clients resume after the page's last key.
            marker = got.get("NextMarker") or got["Contents"][-1]["Key"]
        else:
            raise Divergence("ListObjects: more than 100 pages")
        whole = self.model.list_objects(bucket, prefix=prefix, delimiter=delimiter, marker=start)
        self.same("ListObjects all pages: contents", self._model_contents(whole), contents)
        self.same("ListObjects all pages: prefixes", whole.prefixes, common)

    def list_objects_v2(
        self, bucket: str, prefix: str, delimiter: str, start_after: str, max_keys: int | None
    ) -> None:
        """ListObjectsV2, paginated to the end with continuation tokens; the pages
        concatenated must equal one unpaginated listing."""
        args: dict[str, Any] = {"Bucket": bucket}
        for name, value in (
            ("Prefix", prefix),
            ("Delimiter", delimiter),
            ("StartAfter", start_after),
        ):
            if value:
                args[name] = value
        if max_keys is not None:
            args["MaxKeys"] = max_keys
        limit = 1000 if max_keys is None else max_keys
        token: str | None = None  # the model's
        contents: list[tuple[str, str, int]] = []
        common: list[str] = []
        for number in range(100):
            what = f"ListObjectsV2 page {number} {args}"
            answers = self.both(
                "ListObjectsV2",
                partial(
                    self.model.list_objects_v2,
                    bucket,
                    prefix=prefix,
                    delimiter=delimiter,
                    start_after=start_after,
                    token=token,
                    max_keys=limit,
                ),
                lambda: self.s3.list_objects_v2(**args),
            )
            if answers is None:
                return
            expected, got = answers
            self.same(f"{what} contents", self._model_contents(expected), self._contents(got))
            self.same(f"{what} prefixes", expected.prefixes, self._prefixes(got))
            self.same(f"{what} truncated", expected.truncated, got["IsTruncated"])
            self.same(
                f"{what} KeyCount",
                len(expected.contents) + len(expected.prefixes),
                got["KeyCount"],
            )
            self.same(f"{what} StartAfter", start_after or None, got.get("StartAfter"))
            self.same(
                f"{what} has NextContinuationToken",
                expected.truncated,
                "NextContinuationToken" in got,
            )
            contents += self._contents(got)
            common += self._prefixes(got)
            if not got["IsTruncated"]:
                break
            token = expected.resume
            args["ContinuationToken"] = got["NextContinuationToken"]
        else:
            raise Divergence("ListObjectsV2: more than 100 pages")
        whole = self.model.list_objects_v2(
            bucket, prefix=prefix, delimiter=delimiter, start_after=start_after
        )
        self.same("ListObjectsV2 all pages: contents", self._model_contents(whole), contents)
        self.same("ListObjectsV2 all pages: prefixes", whole.prefixes, common)

    # -- copy ------------------------------------------------------------------

    @rule(
        source_bucket=buckets,
        source_key=keys,
        known=st.integers(0, 99),
        bucket=buckets,
        key=keys,
        same_bucket=st.booleans(),
        replace=st.booleans(),
        content_type=content_types,
        metadata=metadatas,
        condition=read_conditions,
    )
    def copy_object(
        self,
        source_bucket: str,
        source_key: str,
        known: int,
        bucket: str,
        key: str,
        same_bucket: bool,
        replace: bool,
        content_type: str | None,
        metadata: dict[str, str],
        condition: str | None,
    ) -> None:
        source_key = self.choose_key(source_bucket, source_key, known)
        if same_bucket:
            bucket = source_bucket
        args: dict[str, Any] = {
            "Bucket": bucket,
            "Key": key,
            "CopySource": {"Bucket": source_bucket, "Key": source_key},
            "MetadataDirective": "REPLACE" if replace else "COPY",
        }
        if replace:
            args["Metadata"] = metadata
            if content_type is not None:
                args["ContentType"] = content_type
        conditions = self._read_conditions(source_bucket, source_key, condition)
        for name, value in conditions.items():
            args["CopySource" + name] = value
        answers = self.both(
            "CopyObject",
            lambda: self.model.copy_object(
                source_bucket,
                source_key,
                bucket,
                key,
                replace=replace,
                content_type=content_type,
                metadata=metadata,
                if_match=conditions.get("IfMatch"),
                if_none_match=conditions.get("IfNoneMatch"),
            ),
            lambda: self.s3.copy_object(**args),
        )
        if answers is not None:
            expected, got = answers
            self.same("CopyObject ETag", expected.etag, _etag(got["CopyObjectResult"]["ETag"]))

    # -- multipart -------------------------------------------------------------

    @rule(
        bucket=buckets,
        key=keys,
        content_type=content_types,
        metadata=metadatas,
        parts=st.lists(st.tuples(bodies, rarely), max_size=2),
    )
    def create_upload(
        self,
        bucket: str,
        key: str,
        content_type: str | None,
        metadata: dict[str, str],
        parts: list[tuple[bytes, bool]],
    ) -> None:
        """CreateMultipartUpload, then UploadPart of ``parts`` (1, 2, ...)."""
        args: dict[str, Any] = {"Bucket": bucket, "Key": key, "Metadata": metadata}
        if content_type is not None:
            args["ContentType"] = content_type
        answers = self.both(
            "CreateMultipartUpload",
            lambda: self.model.check_create_upload(bucket),
            lambda: self.s3.create_multipart_upload(**args),
        )
        if answers is not None:
            upload_id = answers[1]["UploadId"]
            self.model.create_upload(
                upload_id, bucket, key, content_type=content_type, metadata=metadata
            )
            self.upload_ids.append(upload_id)
            self.targets[upload_id] = (bucket, key)
            for number, (body, big) in enumerate(parts, 1):
                self.upload_part(len(self.upload_ids) - 1, number, body, big, False)

    def _target(self, pick: int, elsewhere: bool) -> tuple[str, str, str]:
        """An upload id seen before (in progress, completed or aborted), its bucket and
        its key (or, with ``elsewhere``, another key); an unknown id if none was."""
        if not self.upload_ids:
            return "no-such-upload", BUCKETS[0], "k"
        upload_id = self.upload_ids[pick % len(self.upload_ids)]
        bucket, key = self.targets[upload_id]
        return upload_id, bucket, (key + "b" if elsewhere else key)

    @rule(
        pick=st.integers(0, 100),
        number=st.integers(1, 4),
        body=bodies,
        big=rarely,
        elsewhere=rarely,
    )
    def upload_part(self, pick: int, number: int, body: bytes, big: bool, elsewhere: bool) -> None:
        upload_id, bucket, key = self._target(pick, elsewhere)
        if big:  # now and then a part big enough not to be the last one
            body = body[:1] * BIG_PART if body else b"\0" * BIG_PART
        answers = self.both(
            "UploadPart",
            lambda: self.model.upload_part(upload_id, bucket, key, number, body),
            lambda: self.s3.upload_part(
                Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
            ),
        )
        if answers is not None:
            expected, got = answers
            self.same("UploadPart ETag", expected, _etag(got["ETag"]))

    @rule(
        pick=st.integers(0, 100),
        how=st.sampled_from(["last", "all", "again", "listed"]),
        listed=st.lists(st.tuples(st.integers(1, 4), rarely), min_size=1, max_size=3),
        condition=write_conditions,
        elsewhere=rarely,
    )
    def complete_upload(
        self,
        pick: int,
        how: str,
        listed: list[tuple[int, bool]],
        condition: str | None,
        elsewhere: bool,
    ) -> None:
        upload_id, bucket, key = self._target(pick, elsewhere)
        upload = self.model.uploads.get(upload_id)
        numbers = sorted(upload.parts) if upload is not None else []
        parts: list[tuple[int, str]]
        if how == "again" and upload_id in self.sent_parts:
            parts = self.sent_parts[upload_id]
        elif how in ("all", "last") and numbers:
            chosen = numbers if how == "all" else numbers[-1:]
            parts = [(n, self.model.part_etag(upload_id, n) or "") for n in chosen]
        else:
            # A list as written: numbers in any order, now and then a wrong ETag.
            parts = [
                (n, _etag(OTHER_ETAG) if bad else self.model.part_etag(upload_id, n) or "0")
                for n, bad in listed
            ]
        if_match = None
        extra: dict[str, str] = {}
        if condition == "none-match":
            extra["IfNoneMatch"] = "*"
        elif condition is not None:
            if_match = (
                self.current_etag(bucket, key) if condition == "match-current" else OTHER_ETAG
            )
            extra["IfMatch"] = if_match
        answers = self.both(
            "CompleteMultipartUpload",
            lambda: self.model.complete_upload(
                upload_id,
                bucket,
                key,
                parts,
                if_none_match=condition == "none-match",
                if_match=if_match,
            ),
            lambda: self.s3.complete_multipart_upload(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={
                    "Parts": [{"PartNumber": n, "ETag": f'"{etag}"'} for n, etag in parts]
                },
                **extra,
            ),
        )
        if answers is not None:
            expected, got = answers
            self.same("CompleteMultipartUpload ETag", expected, _etag(got["ETag"]))
            STATS[f"objects of {len(parts)} parts"] += 1
            self.sent_parts[upload_id] = parts

    @rule(pick=st.integers(0, 100), elsewhere=rarely)
    def abort_upload(self, pick: int, elsewhere: bool) -> None:
        upload_id, bucket, key = self._target(pick, elsewhere)
        self.both(
            "AbortMultipartUpload",
            lambda: self.model.abort_upload(upload_id, bucket, key),
            lambda: self.s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id),
        )

    @rule(pick=st.integers(0, 100), max_parts=page_sizes)
    def list_parts(self, pick: int, max_parts: int | None) -> None:
        upload_id, bucket, key = self._target(pick, False)
        self._list_parts(upload_id, bucket, key, max_parts)

    def _list_parts(self, upload_id: str, bucket: str, key: str, max_parts: int | None) -> None:
        args: dict[str, Any] = {"Bucket": bucket, "Key": key, "UploadId": upload_id}
        if max_parts is not None:
            args["MaxParts"] = max_parts
        marker = 0
        for number in range(100):
            args["PartNumberMarker"] = marker
            answers = self.both(
                "ListParts",
                partial(
                    self.model.list_parts,
                    upload_id,
                    bucket,
                    key,
                    marker=marker,
                    max_parts=max_parts or 1000,
                ),
                lambda: self.s3.list_parts(**args),
            )
            if answers is None:
                return
            expected, got = answers
            what = f"ListParts page {number} {args}"
            parts = [(p["PartNumber"], _etag(p["ETag"]), p["Size"]) for p in got.get("Parts", [])]
            self.same(f"{what} parts", expected.parts, parts)
            self.same(f"{what} truncated", expected.truncated, got["IsTruncated"])
            if not expected.truncated:
                return
            self.same(
                f"{what} NextPartNumberMarker", expected.next_marker, got["NextPartNumberMarker"]
            )
            marker = got["NextPartNumberMarker"]
        raise Divergence("ListParts: more than 100 pages")

    @rule(bucket=buckets)
    def list_uploads(self, bucket: str) -> None:
        answers = self.both(
            "ListMultipartUploads",
            lambda: self.model.list_uploads(bucket),
            lambda: self.s3.list_multipart_uploads(Bucket=bucket),
        )
        if answers is not None:
            expected, got = answers
            uploads = [(u["Key"], u["UploadId"]) for u in got.get("Uploads", [])]
            self.same(f"ListMultipartUploads {bucket}", expected, uploads)

    # -- the server's life -----------------------------------------------------

    @precondition(lambda self: self.restarts < MAX_RESTARTS)
    @rule()
    def clean_restart(self) -> None:
        self.restart()

    def restart(self) -> None:
        """Stop the server cleanly and start it again on the same data directory."""
        STATS["restarts"] += 1
        self.restarts += 1
        self.server.restart()
        self.model.restart()
        self.compare_everything()

    def compare_everything(self) -> None:
        """Every bucket, object (whole, with its headers), upload and part."""
        self.list_buckets()
        for bucket in self.model.list_buckets():
            self.list_objects_v2(bucket, "", "", "", None)
            for key in sorted(self.model.buckets[bucket]):
                self.get_object(bucket, key, None, None)
            self.list_uploads(bucket)
        for upload_id, upload in sorted(self.model.uploads.items()):
            self._list_parts(upload_id, upload.bucket, upload.key, None)


class CrashingS3Machine(S3Machine):
    """The same steps against a server process with fsync on, which is also killed."""

    server_class = ProcessServer

    def final_restart(self) -> None:
        self.crash()

    @precondition(lambda self: self.restarts < MAX_RESTARTS)
    @rule()
    def kill_and_restart(self) -> None:
        self.crash()

    def crash(self) -> None:
        """SIGKILL the server and start it again: every acknowledged operation stays."""
        STATS["crashes"] += 1
        self.restarts += 1
        self.server.crash()
        self.model.restart()
        self.compare_everything()


def _settings(examples: int, steps: int) -> settings:
    return settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        derandomize=os.environ.get("AIOS3_RANDOM") != "1" and not FULL,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


def _run(machine: type[S3Machine], examples: int, steps: int) -> None:
    STATS.clear()
    OUTCOMES.clear()
    started = time.monotonic()
    run_state_machine_as_test(machine, settings=_settings(examples, steps))
    elapsed = time.monotonic() - started
    print(
        f"\n{machine.__name__}: {STATS['examples']} examples (max {examples} x {steps} steps),"
        f" {STATS['requests']} operations compared, {STATS['restarts']} restarts,"
        f" {STATS['crashes']} crashes, 0 divergences, {elapsed:.1f} s"
    )
    by_op: dict[str, list[str]] = {}
    for outcome, count in sorted(OUTCOMES.items()):
        op, status = outcome.split()
        by_op.setdefault(op, []).append(f"{status} x{count}")
    for op, statuses in by_op.items():
        print(f"  {op}: {', '.join(statuses)}")
    print("  " + ", ".join(f"{what} {n}" for what, n in sorted(STATS.items()) if " " in what))


def test_model() -> None:
    _run(S3Machine, 500 if FULL else 80, 100 if FULL else 25)


def test_model_with_crashes() -> None:
    _run(CrashingS3Machine, 50 if FULL else 12, 60 if FULL else 25)
