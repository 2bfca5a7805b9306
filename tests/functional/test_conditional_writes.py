"""Conditional writes under real concurrency: many aiobotocore requests in flight at
once against a real server. A condition is decided in the transaction that commits
the write, so racing writers cannot both pass it, and Complete racing Complete or
Abort ends as one whole outcome."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.functional.test_multipart import (
    PART,
    data_files,
    multipart_etag,
    random_bytes,
    sha256,
)
from tests.support import RunningServer, error_of, read, run_server, test_config

Outcome = tuple[int, str]  # HTTP status, and the ETag (success) or error code


@pytest.fixture
async def racer(server: RunningServer) -> AsyncIterator[Any]:
    """An aiobotocore client with room for 100 requests at once and no retries: a retry
    would hide what the first attempt got (a retried winning PUT would see 412)."""
    async with server.aio_client(
        max_pool_connections=100, retries={"total_max_attempts": 1}
    ) as client:
        yield client


def _failure(exc: ClientError) -> Outcome:
    response: Any = exc.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


async def _attempt(call: Any) -> Outcome:
    """Status and ETag of a write, or status and error code when it is refused."""
    try:
        answer = await call
    except ClientError as exc:
        return _failure(exc)
    return answer["ResponseMetadata"]["HTTPStatusCode"], answer.get("ETag", "")


async def _body(client: Any, bucket: str, key: str) -> bytes:
    got = await client.get_object(Bucket=bucket, Key=key)
    async with got["Body"] as stream:
        data: bytes = await stream.read()
    return data


# -- PutObject -----------------------------------------------------------------------------


async def test_put_object_if_none_match_100_racers_one_winner(racer: Any, bucket: str) -> None:
    bodies = [f"writer {i}\n".encode() + random_bytes(64 * 1024, i) for i in range(100)]
    outcomes = await asyncio.gather(
        *[
            _attempt(racer.put_object(Bucket=bucket, Key="lock", Body=body, IfNoneMatch="*"))
            for body in bodies
        ]
    )
    winners = [i for i, (status, _) in enumerate(outcomes) if status == 200]
    assert len(winners) == 1, outcomes
    (winner,) = winners
    losers = [outcome for i, outcome in enumerate(outcomes) if i != winner]
    assert losers == [(412, "PreconditionFailed")] * 99
    assert outcomes[winner][1] == f'"{hashlib.md5(bodies[winner]).hexdigest()}"'
    assert await _body(racer, bucket, "lock") == bodies[winner]


async def test_put_object_if_match_compare_and_swap_is_linear(racer: Any, bucket: str) -> None:
    first = await racer.put_object(Bucket=bucket, Key="cas", Body=b"genesis")
    previous_etag: str = first["ETag"]
    history = [b"genesis"]

    async def contender(
        round_: int, name: int, barrier: asyncio.Barrier
    ) -> tuple[str, bytes, Outcome]:
        seen = (await racer.head_object(Bucket=bucket, Key="cas"))["ETag"]
        await barrier.wait()  # everyone has read before anyone writes
        body = f"round {round_} contender {name} previous {seen}".encode()
        outcome = await _attempt(
            racer.put_object(Bucket=bucket, Key="cas", Body=body, IfMatch=seen)
        )
        return seen, body, outcome

    for round_ in range(50):
        barrier = asyncio.Barrier(10)
        results = await asyncio.gather(*[contender(round_, n, barrier) for n in range(10)])
        assert {seen for seen, _, _ in results} == {previous_etag}
        won = [(body, outcome) for _, body, outcome in results if outcome[0] == 200]
        assert len(won) == 1, (round_, results)
        lost = [outcome for _, _, outcome in results if outcome[0] != 200]
        assert lost == [(412, "PreconditionFailed")] * 9
        body, (_, etag) = won[0]
        assert body.endswith(f"previous {previous_etag}".encode())
        assert etag == f'"{hashlib.md5(body).hexdigest()}"'
        history.append(body)
        previous_etag = etag

    # The history is a chain: each winner names the ETag of the one before it.
    for before, after in itertools.pairwise(history):
        assert after.endswith(f'previous "{hashlib.md5(before).hexdigest()}"'.encode())
    assert await _body(racer, bucket, "cas") == history[-1]


def test_put_object_if_match_wrong_etag_keeps_object(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"original")
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="k", Body=b"clobber", IfMatch='"0123456789abcdef"')
    assert error_of(caught) == (412, "PreconditionFailed")
    assert read(s3, bucket, "k") == b"original"


def test_put_object_if_match_missing_key(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="absent", Body=b"x", IfMatch='"abc"')
    assert error_of(caught) == (404, "NoSuchKey")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="absent")


def test_put_object_if_none_match_after_delete(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"one", IfNoneMatch="*")
    s3.delete_object(Bucket=bucket, Key="k")
    s3.put_object(Bucket=bucket, Key="k", Body=b"two", IfNoneMatch="*")
    assert read(s3, bucket, "k") == b"two"


# -- CompleteMultipartUpload -------------------------------------------------------------------


async def _upload(client: Any, bucket: str, key: str, parts: list[bytes]) -> tuple[str, Any]:
    """Create an upload with ``parts``: its id and the MultipartUpload argument."""
    upload_id = (await client.create_multipart_upload(Bucket=bucket, Key=key))["UploadId"]
    answers = await asyncio.gather(
        *[
            client.upload_part(
                Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
            )
            for number, data in enumerate(parts, 1)
        ]
    )
    listed = [
        {"PartNumber": number, "ETag": answer["ETag"]} for number, answer in enumerate(answers, 1)
    ]
    return upload_id, {"Parts": listed}


async def test_complete_multipart_upload_10_concurrent_same_answer(racer: Any, bucket: str) -> None:
    parts = [random_bytes(PART, "c1"), random_bytes(PART, "c2"), b"last"]
    upload_id, listed = await _upload(racer, bucket, "together", parts)
    outcomes = await asyncio.gather(
        *[
            _attempt(
                racer.complete_multipart_upload(
                    Bucket=bucket, Key="together", UploadId=upload_id, MultipartUpload=listed
                )
            )
            for _ in range(10)
        ]
    )
    assert outcomes == [(200, multipart_etag(parts))] * 10
    head = await racer.head_object(Bucket=bucket, Key="together")
    assert head["ETag"] == multipart_etag(parts)
    assert sha256(await _body(racer, bucket, "together")) == sha256(b"".join(parts))
    listing = await racer.list_objects_v2(Bucket=bucket)
    assert [item["Key"] for item in listing["Contents"]] == ["together"]
    assert "Uploads" not in await racer.list_multipart_uploads(Bucket=bucket)


async def _after_turns(turns: int, call: Coroutine[Any, Any, Outcome]) -> Outcome:
    """``call``, started after a head start of ``turns`` event-loop turns (not a time)
    for whatever was gathered before it: on loopback, 0-2 turns decide which of two
    requests reaches the server first, so races end both ways across attempts."""
    for _ in range(turns):
        await asyncio.sleep(0)
    return await call


async def test_complete_multipart_upload_racing_abort(racer: Any, bucket: str) -> None:
    big = random_bytes(PART, "race")
    for attempt in range(20):
        key = f"race-{attempt}"
        parts = [big, f"tail {attempt}".encode()]
        upload_id, listed = await _upload(racer, bucket, key, parts)
        finish = _attempt(
            racer.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload=listed
            )
        )
        abort = _after_turns(
            attempt % 3,
            _attempt(racer.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)),
        )
        completed, aborted = await asyncio.gather(finish, abort)
        if completed[0] == 200:
            assert completed[1] == multipart_etag(parts)
            assert aborted == (404, "NoSuchUpload")
            assert await _body(racer, bucket, key) == b"".join(parts)
        else:
            assert completed == (404, "NoSuchUpload")
            assert aborted[0] == 204
            with pytest.raises(ClientError) as caught:
                await racer.head_object(Bucket=bucket, Key=key)
            assert _failure(caught.value)[0] == 404
        assert "Uploads" not in await racer.list_multipart_uploads(Bucket=bucket, Prefix=key)


def test_complete_multipart_upload_if_none_match_existing_key(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="taken", Body=b"first")
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="taken")["UploadId"]
    etag = s3.upload_part(
        Bucket=bucket, Key="taken", UploadId=upload_id, PartNumber=1, Body=b"second"
    )["ETag"]
    listed = {"Parts": [{"PartNumber": 1, "ETag": etag}]}
    with pytest.raises(ClientError) as caught:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="taken", UploadId=upload_id, MultipartUpload=listed, IfNoneMatch="*"
        )
    assert error_of(caught) == (412, "PreconditionFailed")
    assert read(s3, bucket, "taken") == b"first"
    # The refused Complete left the upload as it was: it completes without the condition.
    parts = s3.list_parts(Bucket=bucket, Key="taken", UploadId=upload_id)["Parts"]
    assert [p["ETag"] for p in parts] == [etag]
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key="taken", UploadId=upload_id, MultipartUpload=listed
    )
    assert done["ETag"] == multipart_etag([b"second"])
    assert read(s3, bucket, "taken") == b"second"


def test_complete_multipart_upload_if_none_match_new_key(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="fresh")["UploadId"]
    etag = s3.upload_part(
        Bucket=bucket, Key="fresh", UploadId=upload_id, PartNumber=1, Body=b"new"
    )["ETag"]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="fresh",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
        IfNoneMatch="*",
    )
    assert read(s3, bucket, "fresh") == b"new"


def test_complete_multipart_upload_if_match(s3: Any, bucket: str) -> None:
    current = s3.put_object(Bucket=bucket, Key="k", Body=b"v1")["ETag"]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"v2")[
        "ETag"
    ]
    listed = {"Parts": [{"PartNumber": 1, "ETag": etag}]}
    with pytest.raises(ClientError) as caught:
        s3.complete_multipart_upload(
            Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload=listed, IfMatch='"stale"'
        )
    assert error_of(caught) == (412, "PreconditionFailed")
    assert read(s3, bucket, "k") == b"v1"
    s3.complete_multipart_upload(
        Bucket=bucket, Key="k", UploadId=upload_id, MultipartUpload=listed, IfMatch=current
    )
    assert read(s3, bucket, "k") == b"v2"


# -- DeleteObject ----------------------------------------------------------------------------


def test_delete_object_if_match_right_etag(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"doomed")["ETag"]
    answer = s3.delete_object(Bucket=bucket, Key="k", IfMatch=etag)
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as caught:
        s3.head_object(Bucket=bucket, Key="k")
    assert error_of(caught)[0] == 404


def test_delete_object_if_match_wrong_etag_keeps_object(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"precious")
    with pytest.raises(ClientError) as caught:
        s3.delete_object(Bucket=bucket, Key="k", IfMatch='"0123456789abcdef0123456789abcdef"')
    assert error_of(caught) == (412, "PreconditionFailed")
    assert read(s3, bucket, "k") == b"precious"


def test_delete_object_if_match_missing_key(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as caught:
        s3.delete_object(Bucket=bucket, Key="absent", IfMatch='"abc"')
    assert error_of(caught) == (404, "NoSuchKey")


async def test_delete_object_if_match_10_concurrent_one_deletes(racer: Any, bucket: str) -> None:
    etag = (await racer.put_object(Bucket=bucket, Key="once", Body=b"x"))["ETag"]
    outcomes = await asyncio.gather(
        *[_attempt(racer.delete_object(Bucket=bucket, Key="once", IfMatch=etag)) for _ in range(10)]
    )
    assert sorted(status for status, _ in outcomes) == [204] + [404] * 9
    assert [o for o in outcomes if o[0] != 204] == [(404, "NoSuchKey")] * 9


async def test_delete_object_if_match_racing_put_if_match(racer: Any, bucket: str) -> None:
    """A conditional overwrite and a conditional delete of the same version: one wins,
    and the other sees the winner's outcome (412 after a PUT, 404 after a DELETE)."""
    for attempt in range(20):
        key = f"duel-{attempt}"
        etag = (await racer.put_object(Bucket=bucket, Key=key, Body=b"v0"))["ETag"]
        put = _attempt(racer.put_object(Bucket=bucket, Key=key, Body=b"v1", IfMatch=etag))
        delete = _attempt(racer.delete_object(Bucket=bucket, Key=key, IfMatch=etag))
        if attempt % 2:
            deleted, written = await asyncio.gather(delete, put)
        else:
            written, deleted = await asyncio.gather(put, delete)
        if written[0] == 200:
            assert deleted == (412, "PreconditionFailed")
            assert await _body(racer, bucket, key) == b"v1"
        else:
            assert written == (404, "NoSuchKey")
            assert deleted[0] == 204
            with pytest.raises(ClientError) as caught:
                await racer.head_object(Bucket=bucket, Key=key)
            assert _failure(caught.value)[0] == 404


async def test_upload_parts_racing_abort_leave_no_files(tmp_path: Path) -> None:
    """Parts still arriving when Abort commits are refused and their files removed:
    after the dust settles the data directory holds nothing of the upload."""
    part = random_bytes(512 * 1024, "late-parts")
    with run_server(test_config(tmp_path / "root")) as private:
        async with private.aio_client(
            max_pool_connections=30, retries={"total_max_attempts": 1}
        ) as client:
            await client.create_bucket(Bucket="race")
            for attempt in range(5):
                key = f"k{attempt}"
                created = await client.create_multipart_upload(Bucket="race", Key=key)
                upload_id = created["UploadId"]
                uploads = [
                    _attempt(
                        client.upload_part(
                            Bucket="race", Key=key, UploadId=upload_id, PartNumber=n, Body=part
                        )
                    )
                    for n in range(1, 21)
                ]
                abort = _after_turns(
                    attempt,
                    _attempt(
                        client.abort_multipart_upload(Bucket="race", Key=key, UploadId=upload_id)
                    ),
                )
                *outcomes, aborted = await asyncio.gather(*uploads, abort)
                assert aborted[0] == 204
                assert all(o[0] == 200 or o == (404, "NoSuchUpload") for o in outcomes), outcomes
                assert data_files(private) == []
