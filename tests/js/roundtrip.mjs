// Drives aios3 with the AWS SDK for JavaScript v3 and prints what it saw as JSON.
// The SDK sends aws-chunked bodies with trailing checksums for streams (>= 3.729).
import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import {
  S3Client,
  CreateBucketCommand,
  PutObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  DeleteObjectsCommand,
  DeleteBucketCommand,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";

const [endpoint, accessKeyId, secretAccessKey, bucket] = process.argv.slice(2);
const client = new S3Client({
  endpoint,
  region: "us-east-1",
  forcePathStyle: true,
  credentials: { accessKeyId, secretAccessKey },
});
const sha256 = (data) => createHash("sha256").update(data).digest("hex");
const read = async (body) => Buffer.from(await body.transformToByteArray());

const result = {};
await client.send(new CreateBucketCommand({ Bucket: bucket }));

const small = Buffer.from("hello from the JavaScript SDK");
const put = await client.send(
  new PutObjectCommand({ Bucket: bucket, Key: "small.txt", Body: small, ContentType: "text/plain" }),
);
result.small_etag = put.ETag;

const streamed = randomBytes(3 * 1024 * 1024 + 17);
await client.send(
  new PutObjectCommand({
    Bucket: bucket,
    Key: "streamed.bin",
    Body: Readable.from([streamed.subarray(0, 1 << 20), streamed.subarray(1 << 20)]),
    ContentLength: streamed.length,
    ChecksumAlgorithm: "CRC32",
  }),
);
const got = await client.send(new GetObjectCommand({ Bucket: bucket, Key: "streamed.bin" }));
result.streamed_ok = sha256(await read(got.Body)) === sha256(streamed);
const head = await client.send(
  new HeadObjectCommand({ Bucket: bucket, Key: "streamed.bin", ChecksumMode: "ENABLED" }),
);
result.streamed_crc32 = head.ChecksumCRC32 ?? null;
result.streamed_encoding = head.ContentEncoding ?? null;
result.streamed_length = head.ContentLength;

const large = randomBytes(12 * 1024 * 1024 + 5);
await new Upload({
  client,
  params: { Bucket: bucket, Key: "large.bin", Body: Readable.from([large]) },
  partSize: 5 * 1024 * 1024,
  queueSize: 3,
}).done();
const gotLarge = await client.send(new GetObjectCommand({ Bucket: bucket, Key: "large.bin" }));
result.large_ok = sha256(await read(gotLarge.Body)) === sha256(large);

const listing = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
result.keys = (listing.Contents ?? []).map((item) => item.Key);
await client.send(
  new DeleteObjectsCommand({
    Bucket: bucket,
    Delete: { Objects: result.keys.map((Key) => ({ Key })) },
  }),
);
await client.send(new DeleteBucketCommand({ Bucket: bucket }));
result.done = true;
console.log(JSON.stringify(result));
