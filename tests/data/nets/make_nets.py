#!/usr/bin/env python3
"""Make the small real networks of tests/data/nets with Debian's python3-torch.

    /usr/bin/python3 tests/data/nets/make_nets.py tests/data/nets

cnn.safetensors: a small CNN (3x3 and 1x1 convolutions, batch norm, a linear
head) trained for a few hundred steps to tell apart four synthetic image
patterns. lstm.safetensors: an embedding, a 2-layer LSTM and a decoder trained
to continue a periodic token sequence. Both F32; the training makes the
weights what real networks hold (not the initialiser's uniform draws).
Deterministic (fixed seeds, one thread). Written without the safetensors
package: the format is an 8-byte little-endian header length, a JSON header,
and the raw little-endian data.
"""
import json
import struct
import sys

import torch
import torch.nn as nn

torch.manual_seed(0)
torch.set_num_threads(1)


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)        # in = 27: no group of 32 fits
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)       # in = 144
        self.conv3 = nn.Conv2d(32, 64, 1)                  # 1x1, in = 32
        self.conv4 = nn.Conv2d(64, 64, 3, padding=1)       # in = 576
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.fc = nn.Linear(256, 64)                       # in = 256: two groups of 128
        self.head = nn.Linear(64, 4)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2)
        x = torch.relu(self.conv3(x))
        x = self.pool(torch.relu(self.conv4(x)))
        return self.head(torch.relu(self.fc(x.flatten(1))))


class LSTMNet(nn.Module):
    def __init__(self, vocab=64, emb=64, hidden=96):
        super().__init__()
        self.embed = nn.Embedding(vocab, emb)
        self.lstm = nn.LSTM(emb, hidden, num_layers=2, batch_first=True)
        self.decoder = nn.Linear(hidden, vocab)

    def forward(self, x):
        y, _ = self.lstm(self.embed(x))
        return self.decoder(y)


def images(n):
    """Four classes: horizontal, vertical, diagonal stripes, a blob; noisy."""
    cls = torch.randint(0, 4, (n,))
    yy, xx = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")
    pats = torch.stack([torch.sin(yy), torch.sin(xx), torch.sin(xx + yy),
                        torch.exp(-((xx - 8) ** 2 + (yy - 8) ** 2) / 20)])
    x = pats[cls].unsqueeze(1).repeat(1, 3, 1, 1) * torch.rand(n, 3, 1, 1)
    return x + 0.3 * torch.randn_like(x), cls


def train_cnn():
    net = CNN()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(300):
        x, y = images(64)
        loss = nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    x, y = images(512)
    acc = (net(x).argmax(1) == y).float().mean().item()
    print(f"cnn: loss {loss.item():.3f} accuracy {acc:.3f}")
    return net


def train_lstm():
    net = LSTMNet()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(300):
        start = torch.randint(0, 64, (32, 1))
        step = torch.randint(1, 5, (32, 1))
        seq = (start + step * torch.arange(33)) % 64
        logits = net(seq[:, :-1])
        loss = nn.functional.cross_entropy(logits.reshape(-1, 64), seq[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(f"lstm: loss {loss.item():.3f}")
    return net


def save(path, state):
    header, blobs, off = {}, [], 0
    for name, t in state.items():
        t = t.detach().contiguous().to(torch.float32)
        data = struct.pack(f"<{t.numel()}f", *t.flatten().tolist())
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    cnn = train_cnn()
    state = {k: v for k, v in cnn.state_dict().items() if not k.endswith("num_batches_tracked")}
    save(f"{out}/cnn.safetensors", state)
    save(f"{out}/lstm.safetensors", train_lstm().state_dict())


if __name__ == "__main__":
    main()
