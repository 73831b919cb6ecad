"""Upload a file with tuspy (Debian's python3-tuspy, module tusclient) sending Upload-Checksum.

Prints {"url": ..., "offset": ...} as JSON on success; on failure tuspy's exception goes to stderr
and the exit code is 1. Run with /usr/bin/python3 (the Debian module is not on a pyenv's path).
"""
import argparse
import hashlib
import json

from tusclient import client
from tusclient.uploader import Uploader

parser = argparse.ArgumentParser()
parser.add_argument('endpoint')
parser.add_argument('file')
parser.add_argument('--chunk-size', type=int, required=True)
parser.add_argument('--algorithm', default='sha1', help='a hashlib name that is also a tus name')
parser.add_argument('--url', help='resume this upload instead of creating one')
parser.add_argument('--stop-at', type=int, help='stop once the offset reaches this')
parser.add_argument('--corrupt-first', type=int, default=0, help='send this many wrong checksums first')
parser.add_argument('--retries', type=int, default=0)
args = parser.parse_args()

algorithm = getattr(hashlib, args.algorithm)
calls = 0


def checksum(chunk):
    """tuspy's checksum function; the first --corrupt-first calls hash other bytes (a bad chunk)."""
    global calls
    calls += 1
    if calls <= args.corrupt_first:
        return algorithm(b'not the bytes that were sent' + chunk)
    return algorithm(chunk)


class CheckedUploader(Uploader):
    # tuspy's hook for the algorithm it sends: (tus name, hashlib-like constructor).
    CHECKSUM_ALGORITHM_PAIR = (args.algorithm, checksum)


uploader = CheckedUploader(
    file_path=args.file,
    client=client.TusClient(args.endpoint),
    url=args.url,
    chunk_size=args.chunk_size,
    upload_checksum=True,
    retries=args.retries,
    retry_delay=0,
    metadata={'filename': 'tuspy.bin'},
)
uploader.upload(stop_at=args.stop_at)
print(json.dumps({'url': uploader.url, 'offset': uploader.offset}))
