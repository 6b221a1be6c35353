"""Writes pt_inception_layout.json: the state_dict keys and shapes of pytorch-fid's fid_inception_v3(), in state_dict
order, without PyTorch. It replays the constructor calls of torchvision's Inception3 (num_classes=1008,
aux_logits=False) with pytorch-fid's patched blocks, which keep torchvision's submodules (they only override forward).
Run: python3 derive_layout.py > pt_inception_layout.json
"""
import json
from collections import OrderedDict

layout = OrderedDict()


def basic_conv(prefix, cin, cout, kernel):
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    # BasicConv2d registers conv (bias=False) then bn; a module saves its parameters, then its buffers, then children.
    layout[prefix + ".conv.weight"] = [cout, cin, kh, kw]
    layout[prefix + ".bn.weight"] = [cout]
    layout[prefix + ".bn.bias"] = [cout]
    layout[prefix + ".bn.running_mean"] = [cout]
    layout[prefix + ".bn.running_var"] = [cout]
    layout[prefix + ".bn.num_batches_tracked"] = []


def inception_a(p, cin, pool_features):
    basic_conv(p + ".branch1x1", cin, 64, 1)
    basic_conv(p + ".branch5x5_1", cin, 48, 1)
    basic_conv(p + ".branch5x5_2", 48, 64, 5)
    basic_conv(p + ".branch3x3dbl_1", cin, 64, 1)
    basic_conv(p + ".branch3x3dbl_2", 64, 96, 3)
    basic_conv(p + ".branch3x3dbl_3", 96, 96, 3)
    basic_conv(p + ".branch_pool", cin, pool_features, 1)


def inception_b(p, cin):
    basic_conv(p + ".branch3x3", cin, 384, 3)
    basic_conv(p + ".branch3x3dbl_1", cin, 64, 1)
    basic_conv(p + ".branch3x3dbl_2", 64, 96, 3)
    basic_conv(p + ".branch3x3dbl_3", 96, 96, 3)


def inception_c(p, cin, c7):
    basic_conv(p + ".branch1x1", cin, 192, 1)
    basic_conv(p + ".branch7x7_1", cin, c7, 1)
    basic_conv(p + ".branch7x7_2", c7, c7, (1, 7))
    basic_conv(p + ".branch7x7_3", c7, 192, (7, 1))
    basic_conv(p + ".branch7x7dbl_1", cin, c7, 1)
    basic_conv(p + ".branch7x7dbl_2", c7, c7, (7, 1))
    basic_conv(p + ".branch7x7dbl_3", c7, c7, (1, 7))
    basic_conv(p + ".branch7x7dbl_4", c7, c7, (7, 1))
    basic_conv(p + ".branch7x7dbl_5", c7, 192, (1, 7))
    basic_conv(p + ".branch_pool", cin, 192, 1)


def inception_d(p, cin):
    basic_conv(p + ".branch3x3_1", cin, 192, 1)
    basic_conv(p + ".branch3x3_2", 192, 320, 3)
    basic_conv(p + ".branch7x7x3_1", cin, 192, 1)
    basic_conv(p + ".branch7x7x3_2", 192, 192, (1, 7))
    basic_conv(p + ".branch7x7x3_3", 192, 192, (7, 1))
    basic_conv(p + ".branch7x7x3_4", 192, 192, 3)


def inception_e(p, cin):
    basic_conv(p + ".branch1x1", cin, 320, 1)
    basic_conv(p + ".branch3x3_1", cin, 384, 1)
    basic_conv(p + ".branch3x3_2a", 384, 384, (1, 3))
    basic_conv(p + ".branch3x3_2b", 384, 384, (3, 1))
    basic_conv(p + ".branch3x3dbl_1", cin, 448, 1)
    basic_conv(p + ".branch3x3dbl_2", 448, 384, 3)
    basic_conv(p + ".branch3x3dbl_3a", 384, 384, (1, 3))
    basic_conv(p + ".branch3x3dbl_3b", 384, 384, (3, 1))
    basic_conv(p + ".branch_pool", cin, 192, 1)


# Inception3.__init__ order; maxpool1/2, avgpool and dropout hold nothing, AuxLogits is None (aux_logits=False).
# Assigning Mixed_5b etc. to the patched FID blocks replaces the value under an existing key, so the order is kept.
basic_conv("Conv2d_1a_3x3", 3, 32, 3)
basic_conv("Conv2d_2a_3x3", 32, 32, 3)
basic_conv("Conv2d_2b_3x3", 32, 64, 3)
basic_conv("Conv2d_3b_1x1", 64, 80, 1)
basic_conv("Conv2d_4a_3x3", 80, 192, 3)
inception_a("Mixed_5b", 192, 32)
inception_a("Mixed_5c", 256, 64)
inception_a("Mixed_5d", 288, 64)
inception_b("Mixed_6a", 288)
inception_c("Mixed_6b", 768, 128)
inception_c("Mixed_6c", 768, 160)
inception_c("Mixed_6d", 768, 160)
inception_c("Mixed_6e", 768, 192)
inception_d("Mixed_7a", 768)
inception_e("Mixed_7b", 1280)
inception_e("Mixed_7c", 2048)
layout["fc.weight"] = [1008, 2048]
layout["fc.bias"] = [1008]

lines = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in layout.items())
print("{\n" + lines + "\n}")
