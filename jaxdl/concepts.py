"""The concept map: every PyTorch API and idiom of the notes and its JAX/jaxdl form.

One source of truth: ``CONCEPTS``. ``python -m jaxdl.concepts`` writes
``docs/pytorch_to_jax.md`` from it; the tests fail when that file is stale, when an
entry's ``symbol`` does not import, when a file it is ``shown`` in does not exist or
never writes the symbol's name, and when a name that the notes use (the data file
``docs/notes_names.txt``, extracted from the notes, read by the tests) has no entry.
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class Concept:
    torch: str  # the PyTorch form, as the notes write it
    jax: str  # the JAX / jaxdl form
    differs: str  # one sentence on what differs
    symbol: str | None = None  # the jaxdl (or jax/optax/flax) object, as an importable dotted path
    shown: tuple[str, ...] = ()  # files that use the symbol by name: an experiment, a notebook, a model
    aliases: tuple[str, ...] = ()  # other spellings in the notes (torch.nn.X for nn.X, typos)
    section: str = ""


def _c(section):
    def make(torch, jax, differs, symbol=None, shown=(), aliases=()):
        return Concept(torch, jax, differs, symbol, tuple(shown), tuple(aliases), section)
    return make


T = _c("Tensors")
A = _c("Autograd")
L = _c("Layers and models")
X = _c("Losses")
O = _c("Optimizers")
D = _c("Data")
R = _c("Training loop idioms")
V = _c("Vision, metrics, tools")

CONCEPTS: list[Concept] = [
    # ------------------------------------------------------------------ tensors
    T("torch.tensor(data)", "jnp.array(data)", "Always a copy, and immutable: `x.at[i].set(v)` returns a new array instead of writing in place.",
      "jax.numpy.array", ["experiments/tensor_basics.py"]),
    T("torch.Tensor(data) / torch.FloatTensor(data)", "jnp.asarray(data, jnp.float32)", "No tensor classes per dtype: the dtype is an argument.",
      "jax.numpy.asarray", ["experiments/tensor_basics.py"], ("torch.Tensor", "torch.FloatTensor")),
    T("torch.LongTensor(data)", "jnp.asarray(data, jnp.int32)", "JAX uses 32-bit integers unless `jax_enable_x64` is on; class indices are int32.",
      "jax.numpy.asarray", ["experiments/iris.py"]),
    T("torch.from_numpy(a) / torch.as_tensor(a)", "jnp.asarray(a)", "torch shares memory with the numpy array; a JAX array is an immutable copy on the device, so later numpy writes never show through.",
      "jax.numpy.asarray", ["experiments/tensor_basics.py"], ("torch.from_numpy", "torch.as_tensor")),
    T("torch.empty(4, 2)", "jnp.zeros((4, 2))", "There is no uninitialised memory in JAX; allocate zeros.", "jax.numpy.zeros", ["experiments/tensor_basics.py"]),
    T("torch.zeros / torch.ones(shape, dtype=torch.int32)", "jnp.zeros / jnp.ones(shape, dtype=jnp.int32)", "Same; shapes are tuples.",
      "jax.numpy.zeros", ["experiments/tensor_basics.py"], ("torch.zeros", "torch.ones", "torch.int32", "torch.float")),
    T("torch.arange(0, 20, 2).reshape(5, 2)", "jnp.arange(0, 20, 2).reshape(5, 2)", "Same semantics.", "jax.numpy.arange", ["experiments/tensor_basics.py"]),
    T("torch.linspace(0, 18, 12)", "jnp.linspace(0, 18, 12)", "Same semantics.", "jax.numpy.linspace", ["experiments/tensor_basics.py"]),
    T("torch.rand / torch.randn(4, 3)", "jax.random.uniform / jax.random.normal(key, (4, 3))", "Random numbers need an explicit key: no global generator, so every draw is reproducible and splittable (`jax.random.split`).",
      "jax.random.normal", ["experiments/tensor_basics.py"], ("torch.rand", "torch.randn")),
    T("torch.rand_like / randn_like / randint_like(x, 0, 11)", "jax.random.uniform(key, x.shape) / normal / randint(key, x.shape, 0, 11)", "No *_like random functions: pass `x.shape` and `x.dtype`, and a key.",
      "jax.random.randint", ["experiments/tensor_basics.py"], ("torch.rand_like", "torch.randn_like", "torch.randint_like")),
    T("torch.manual_seed(101)", "key = jax.random.key(101); nnx.Rngs(101)", "A seed becomes a key passed where randomness is used (init, dropout, shuffling), instead of global state; JAX's generator is not torch's, so the same seed draws other numbers.",
      "flax.nnx.Rngs", ["experiments/mnist_cnn.py"]),
    T("x.type(torch.int32) / x.float() / x.long()", "x.astype(jnp.int32) / x.astype(jnp.float32)", "One method, astype, for every dtype.", "jax.Array.astype", ["experiments/tensor_basics.py"], (".type", ".float")),
    T("x.view(-1, 4) / x.reshape(-1, 4)", "x.reshape(-1, 4)", "No views: reshape returns a new array (XLA avoids the copy where it can).", "jax.Array.reshape", ["experiments/tensor_basics.py"], (".view", ".reshape")),
    T("x.size() / x.shape", "x.shape", "A plain tuple.", "jax.Array.shape", ["experiments/tensor_basics.py"], (".size",)),
    T("x.item()", "x.item() / float(x)", "Same, and it waits for the device: keep it out of the training loop.", "jax.Array.item", ["notebooks/01_tensors.py"], (".item",)),
    T("x.numpy() / x.detach().numpy()", "np.asarray(x)", "Nothing to detach: JAX arrays carry no graph.", "numpy.asarray", ["experiments/linear_regression.py"], (".numpy", ".detach")),
    T("x * y, x @ y.T, torch.mm(x, y)", "x * y, x @ y.T, jnp.matmul(x, y)", "Same operators.", "jax.numpy.matmul", ["notebooks/01_tensors.py"], ("torch.mm",)),
    T("torch.max(y, 1)[1] / y.argmax(dim=1)", "jnp.argmax(y, axis=1)", "`dim` is `axis`; max and argmax are separate functions.", "jax.numpy.argmax", ["experiments/iris.py"], ("torch.max", ".argmax")),
    T("torch.softmax / torch.sigmoid(x)", "jax.nn.softmax(x, axis=-1) / jax.nn.sigmoid(x)", "Activations live in jax.nn.", "jax.nn.softmax", ["notebooks/01_tensors.py"], ("torch.softmax", "torch.sigmoid")),
    T("x.to(device) / x.cuda() / x.cpu()", "jax.device_put(x) / np.asarray(x)", "Arrays are created on the default accelerator; the same code runs on CPU, GPU and TPU with no .to(device).",
      "jax.device_put", ["notebooks/01_tensors.py"], (".to", ".cuda", ".cpu")),
    T("torch.device / torch.cuda.is_available()", "jax.devices(), jax.default_backend()", "JAX picks the accelerator itself; jaxdl prints what it uses at start.",
      "jaxdl.devices.describe", ["notebooks/01_tensors.py"], ("torch.device", "torch.cuda.is_available", "torch.backends.mps.is_available", "torch.backends.mps.is_built", "torch.backends.cuda.is_available")),
    # ------------------------------------------------------------------ autograd
    A("x = torch.tensor(2., requires_grad=True); y.backward(); x.grad", "jax.grad(f)(2.0)", "Gradients are a function of a function, returned rather than stored in .grad.",
      "jax.grad", ["experiments/autograd.py"], (".requires_grad", ".backward", ".grad", "torch.autograd")),
    A("loss.item(); loss.backward()", "loss, grads = jax.value_and_grad(loss_fn)(params)", "The value and the gradient in one pass.", "jax.value_and_grad", ["notebooks/02_autograd.py"]),
    A("out.backward(torch.ones_like(out))", "_, vjp = jax.vjp(f, x); vjp(jnp.ones_like(out))", "A non-scalar output needs an explicit cotangent, as torch's `gradient=` argument.", "jax.vjp", ["experiments/autograd.py"]),
    A("x.grad accumulates over backward() calls", "fresh gradients per call", "Nothing accumulates, so there is nothing to zero.", "jax.grad", ["experiments/autograd.py"]),
    A("with torch.no_grad():", "(nothing)", "JAX computes gradients only where jax.grad is applied; evaluation code is plain code.", "jaxdl.train.Learner", ["experiments/iris.py"], ("torch.no_grad", ".no_grad")),
    A("with torch.inference_mode():", "learner.predict(state, x)", "Same as no_grad: the eval step is a separate jitted function with no gradient.", "jaxdl.train.Learner", ["experiments/iris.py"], ("torch.inference_mode", ".inference_mode")),
    # ------------------------------------------------------------------ layers
    L("class Model(nn.Module): __init__ + forward", "class Model(nnx.Module): __init__(..., rngs) + __call__", "Layers are built eagerly with an explicit RNG; `forward` is `__call__`.",
      "flax.nnx.Module", ["jaxdl/models/basic.py"], ("nn.Module", "torch.nn.Module", "torch.nn")),
    L("nn.Parameter", "nnx.Param", "Parameters are Variables that the train step splits out as a pytree.", "flax.nnx.Param", ["jaxdl/layers/conv.py"], ("torch.nn.Parameter",)),
    L("nn.Linear(in, out)", "jaxdl.layers.Linear(in, out, rngs=rngs)", "kernel is weight.T (in, out); torch's init distribution, not its values (JAX's generator draws other numbers from a seed; Flax's default init has 1.73x the spread).",
      "jaxdl.layers.Linear", ["jaxdl/models/basic.py"], ("torch.nn.Linear",)),
    L("nn.Conv2d(in, out, k, stride, padding)", "jaxdl.layers.Conv2d(in, out, k, stride, padding, rngs=rngs)", "NHWC activations and HWIO kernels; padding 0 by default as torch (nnx.Conv: 'SAME').",
      "jaxdl.layers.Conv2d", ["jaxdl/models/cnn.py"]),
    L("F.max_pool2d(x, 2, 2) / nn.MaxPool2d(2, 2)", "jaxdl.layers.max_pool2d(x, 2)", "Stride defaults to the window as torch (Flax: 1); the gradient goes to each window's first maximum, as torch, ties included.",
      "jaxdl.layers.max_pool2d", ["jaxdl/models/cnn.py"], ("F.max_pool2d", "nn.MaxPool2d")),
    L("x.view(-1, 16*5*5) after convs", "jaxdl.layers.flatten(x)", "Flattens NHWC, so fc1's rows are in (H, W, C) order; jaxdl.interop permutes them when loading torch weights.",
      "jaxdl.layers.flatten", ["jaxdl/models/cnn.py"]),
    L("F.relu / nn.ReLU()", "jax.nn.relu", "Functions, not modules; gradient 0 at 0 as torch.", "jax.nn.relu", ["jaxdl/models/cnn.py"], ("F.relu", "nn.ReLU", "nn.ReLu", "torch.nn.functional", "nn.functional")),
    L("nn.LeakyReLU(negative_slope=0.05)", "jaxdl.layers.leaky_relu(x, 0.05)", "jax.nn.leaky_relu has gradient 1 at exactly 0 where torch gives the slope; jaxdl's matches torch.", "jaxdl.layers.leaky_relu", ["experiments/autograd.py"]),
    L("F.sigmoid / nn.Sigmoid / F.tanh", "jax.nn.sigmoid / jnp.tanh", "Plain functions.", "jax.nn.sigmoid", ["experiments/diabetes.py"], ("F.sigmoid", "torch.nn.Sigmoid", "F.tanh", "F.reul")),
    L("F.softmax(x, dim=1) / F.log_softmax(x, dim=1)", "jax.nn.softmax(x, axis=-1) / jax.nn.log_softmax(x, axis=-1)", "`dim` is `axis`.", "jax.nn.log_softmax", ["experiments/mnist_cnn.py"], ("F.softmax", "F.log_softmax")),
    L("F.one_hot(y)", "jax.nn.one_hot(y, num_classes)", "The number of classes is required (static shapes).", "jax.nn.one_hot", ["notebooks/01_tensors.py"]),
    L("nn.Sequential(nn.Linear(8, 4), nn.ReLU(), ...)", "nnx.Sequential(Linear(8, 4, rngs=rngs), jax.nn.relu, ...)", "Takes modules and plain functions alike.", "flax.nnx.Sequential", ["jaxdl/models/mlp.py"], ("nn.Sequential",)),
    L("nn.Dropout(p=0.3)", "jaxdl.layers.Dropout(0.3, rngs=nnx.Rngs(dropout=seed))", "The mask comes from an RNG stream carried in the train state; eval mode is a separate step, not a flag to remember.",
      "jaxdl.layers.Dropout", ["experiments/mnist_binary.py", "experiments/regularization.py"], ("torch.nn.Dropout",)),
    L("nn.BatchNorm1d(50)", "jaxdl.layers.BatchNorm(50)", "momentum 0.1 and the unbiased running variance as torch (nnx.BatchNorm: 0.99 keep-rate, biased variance); running stats live in the train state.",
      "jaxdl.layers.BatchNorm", ["experiments/mnist_bn_ln.py"], ("nn.BatchNorm1D", "torch.nn.BatchNorm1D")),
    L("nn.LayerNorm(20)", "jaxdl.layers.LayerNorm(20, rngs=rngs)", "eps 1e-5 as torch (Flax: 1e-6).", "jaxdl.layers.LayerNorm", ["experiments/mnist_bn_ln.py"], ("torch.nn.LayerNorm",)),
    L("nn.Embedding(n, d)", "jaxdl.layers.Embedding(n, d, rngs=rngs)", "N(0, 1) init as torch (in distribution: other values from a seed); out-of-range indices must be caught in the data (no exception under jit).", "jaxdl.layers.Embedding", ["jaxdl/models/tabular.py"]),
    L("nn.LSTM(1, 100); self.hidden = (h0, c0)", "jaxdl.layers.LSTM(1, 100, rngs=rngs)", "Two biases and torch's gate order; the hidden state is an argument (zeros by default), not module state to reset.",
      "jaxdl.layers.LSTM", ["experiments/lstm_forecast.py"]),
    L("nn.init.uniform_(layer.weight)", "Linear(..., kernel_init=jaxdl.layers.uniform_init())", "Init is chosen when the layer is built, not applied afterwards in place.", "jaxdl.layers.uniform_init", ["notebooks/03_linear_models.py"]),
    L("model.parameters()", "nnx.state(model, nnx.Param)", "A pytree of arrays; the optimizer takes it as data.", "flax.nnx.state", ["experiments/transfer_learning.py"], (".parameters",)),
    # ------------------------------------------------------------------ losses
    X("nn.MSELoss() / MSELoss(size_average=False)", "jaxdl.losses.mse_loss(p, t) / reduction='sum'", "optax.l2_loss is half of it.", "jaxdl.losses.mse_loss", ["experiments/linear_regression.py"], ("torch.nn.MSELoss",)),
    X("nn.L1Loss()", "jaxdl.losses.l1_loss", "Gradient 0 at a zero residual as torch.", "jaxdl.losses.l1_loss", ["notebooks/03_linear_models.py"], ("torch.nn.L1Loss",)),
    X("nn.BCELoss()", "jaxdl.losses.bce_loss", "Logs clamped at -100 and torch's gradient, so saturated sigmoids stay finite.", "jaxdl.losses.bce_loss", ["experiments/diabetes.py"], ("torch.nn.BCELoss",)),
    X("nn.BCEWithLogitsLoss()", "jaxdl.losses.bce_with_logits_loss", "Stable for large logits.", "jaxdl.losses.bce_with_logits_loss", ["experiments/mnist_binary.py"]),
    X("nn.CrossEntropyLoss()", "jaxdl.losses.cross_entropy(logits, labels)", "optax returns per-example values; jaxdl reduces like torch.", "jaxdl.losses.cross_entropy", ["experiments/iris.py"], ("torch.nn.CrossEntropyLoss",)),
    X("nn.NLLLoss() on log_softmax", "jaxdl.losses.nll_loss", "Same.", "jaxdl.losses.nll_loss", ["experiments/mnist_cnn.py"]),
    # ------------------------------------------------------------------ optimizers
    O("optim.SGD(params, lr, momentum, weight_decay)", "jaxdl.optim.sgd(lr, momentum, weight_decay=...)", "An optax GradientTransformation: no params at construction; coupled L2 decay and dampening as torch.",
      "jaxdl.optim.sgd", ["experiments/mnist_mlp.py"], ("torch.optim.SGD", "optim.SGD", "torch.optim")),
    O("optim.Adam(params, lr, weight_decay=1e-8)", "jaxdl.optim.adam(lr, weight_decay=1e-8)", "Coupled decay as torch's Adam; optax.adamw is the decoupled AdamW.", "jaxdl.optim.adam", ["experiments/mnist_cnn.py"], ("torch.optim.Adam",)),
    O("optim.AdamW(params, lr)", "jaxdl.optim.adamw(lr)", "weight_decay defaults to 0.01 as torch (optax: 1e-4).", "jaxdl.optim.adamw", ["notebooks/07_regularization_normalization.py"]),
    O("optimizer.zero_grad()", "(nothing)", "Gradients are return values, never accumulated.", "jaxdl.train.Learner", ["notebooks/04_ann_tabular.py"], (".zero_grad",)),
    O("loss.backward(); optimizer.step()", "state, metrics = learner.train_step(state, batch)", "One pure jitted function computes the gradient and returns the updated state.", "jaxdl.train.Learner", ["notebooks/04_ann_tabular.py"], (".step",)),
    O("for p in model.features.parameters(): p.requires_grad = False", "jaxdl.optim.freeze(tx, [r'features\\.'])", "Freezing is data: the parameters whose dotted path matches get a zero update and no decay; their gradients are never computed (XLA drops them), as torch skips them.", "jaxdl.optim.freeze", ["experiments/transfer_learning.py", "notebooks/08_transfer_learning.py"]),
    # ------------------------------------------------------------------ data
    D("TensorDataset(X, y)", "jaxdl.data.ArrayDataset(X, y)", "Holds numpy arrays; batches are one vectorised gather.", "jaxdl.data.ArrayDataset", ["notebooks/04_ann_tabular.py"], ("torch.utils.data",)),
    D("DataLoader(ds, batch_size, shuffle=True)", "jaxdl.data.DataLoader(ds, batch_size, shuffle=True, seed=0)", "The order of epoch e depends on (seed, e) only, so runs and resumes repeat exactly.", "jaxdl.data.DataLoader", ["notebooks/04_ann_tabular.py"], ("torch.utils.data.DataLoader",)),
    D("class MyData(torch.utils.data.Dataset)", "jaxdl.data.ArrayDataset / jaxdl.data.load", "In-memory arrays instead of per-item __getitem__ (25-100x faster here); a class with __len__ / __getitem__ still works: DataLoader reads it record by record, in num_workers processes.", "jaxdl.data.load", ["experiments/tabular.py"], ("torch.utils.data.Dataset",)),
    D("datasets.MNIST(root, train, download, transform=ToTensor())", "jaxdl.data.load('mnist', data_dir)", "NHWC float32 in [0, 1]; reads torchvision's folder layout too.", "jaxdl.data.load", ["experiments/mnist_cnn.py"], ("datasets.MNIST",)),
    D("torchvision.datasets.CIFAR10(root='./data', ...)", "jaxdl.data.load('cifar10', data_dir)", "Same canonical files.", "jaxdl.data.load", ["experiments/cifar10.py"]),
    D("transforms.ToTensor() / Normalize / Compose", "arrays scaled once at load; jaxdl.data.augment", "Preprocessing is done on whole arrays; augmentation runs on device inside jit.", "jaxdl.data.load", ["experiments/fashion_mnist.py"], ("transforms.ToTensor", "transforms.Normalize", "transforms.Compose", "torchvision.transforms")),
    D("datasets.ImageFolder(root, transform=...)", "jaxdl.data.ImageFolder(root, transform=imagenet_transform())", "torchvision's layout, class order and extensions; images come out HWC, so batches are NHWC; DataLoader(..., num_workers=2) decodes in worker processes (grain).", "jaxdl.data.ImageFolder", ["experiments/transfer_learning.py"], ("ImageFolder", "torchvision.datasets.ImageFolder")),
    D("transforms.Compose([Resize(256), CenterCrop(224), ToTensor(), Normalize(mean, std)])", "jaxdl.data.images.imagenet_transform() (inception_transform(): 342/299)", "The same pixels as torchvision's PIL path; ToTensor gives HWC float32, not CHW.", "jaxdl.data.images.imagenet_transform", ["experiments/transfer_learning.py"], ("transforms.Resize", "transforms.CenterCrop")),
    D("transforms.TrivialAugmentWide() / RandAugment()", "jaxdl.data.augment", "Random ops take a key and run on device.", "jaxdl.data.augment", ["experiments/cifar10.py"], ("transforms.TrivialAugmentWide", "transforms.RandAugment")),
    D("train_test_split(X, y, test_size=0.2, random_state=42)", "jaxdl.data.load('iris') (the same split)", "sklearn is used as is.", "jaxdl.data.datasets.iris", ["experiments/iris.py"]),
    D("MinMaxScaler(feature_range=(-1, 1))", "jaxdl.data.transforms.MinMaxScaler", "Fitted on train only, inverts exactly.", "jaxdl.data.transforms.MinMaxScaler", ["experiments/lstm_forecast.py"]),
    D("df[c].astype('category').cat.codes; np.stack(...)", "the tabular loader of jaxdl.data", "Codes and embedding sizes come with the data.", "jaxdl.data.load", ["experiments/tabular.py"]),
    # ------------------------------------------------------------------ loop idioms
    R("model.train() / model.eval()", "learner.train_step / learner.eval_step", "Two graph definitions fixed at construction: the mode is which step you call, not a flag you can forget.", "jaxdl.train.Learner", ["notebooks/07_regularization_normalization.py"], (".train", ".eval")),
    R("for epoch in range(epochs): for X, y in loader: ...", "jaxdl.train.fit(learner, state, loader, epochs=...)", "One loop for every experiment: progress bar, validation, history, callbacks.", "jaxdl.train.fit", ["experiments/overfit_batch.py"]),
    R("for X, y in loader: (one optimizer step per Python iteration)", "state, metrics = learner.train_steps(state, stacked_batches)", "k steps in one compiled lax.scan over batches stacked on the device (DataLoader.epoch_chunks): no per-step Python dispatch; fit does this by default.", "jaxdl.train.Learner", ["notebooks/09_training_loop_metrics.py"]),
    R("losses.append(loss.item())", "history['train_loss']", "Per-epoch metrics are reduced on device and fetched once per epoch.", "jaxdl.train.History", ["notebooks/09_training_loop_metrics.py"]),
    R("torch.save(model.state_dict(), 'm.pt')", "jaxdl.checkpoint.Checkpointer(dir).save(epoch, state)", "orbax writes the whole train state atomically (params, BatchNorm stats, RNG, optimizer).", "jaxdl.checkpoint.Checkpointer", ["experiments/iris.py"], ("torch.save", ".state_dict")),
    R("model.load_state_dict(torch.load('m.pt'))", "Checkpointer(dir).restore(learner.init_state())", "Restores into a template and lists every mismatch.", "jaxdl.checkpoint.Checkpointer", ["experiments/iris.py"], ("torch.load", ".load_state_dict")),
    R("a PyTorch .pt state_dict", "jaxdl.interop.from_torch(model, 'm.pt') / to_torch(model)", "Transposes and permutes by layer; errors list missing, unexpected and mis-shaped keys.", "jaxdl.interop.from_torch", ["notebooks/04_ann_tabular.py"]),
    R("torch.save(model, 'm.pkl') (the whole object)", "Checkpointer + the model class", "Code is not pickled: the class rebuilds the graph and the checkpoint fills it.", "jaxdl.checkpoint.Checkpointer", ["experiments/iris.py"]),
    R("self.hidden = (zeros, zeros) before each sequence", "model(seq) starts from zeros", "The LSTM's state is an argument and a return value: there is nothing to reset.", "jaxdl.layers.LSTM", ["experiments/lstm_forecast.py"]),
    # ------------------------------------------------------------------ vision, metrics, tools
    V("torchmetrics.Accuracy / Precision / Recall / F1Score", "jaxdl.metrics.summary(confusion)", "Computed from a confusion matrix accumulated on device across batches.", "jaxdl.metrics.summary", ["notebooks/09_training_loop_metrics.py"], ("torchmetrics.Accuracy", "torchmetrics.Precision", "torchmetrics.Recall", "torchmetrics.F1Score")),
    V("torchmetrics.classification.ConfusionMatrix", "jaxdl.metrics.confusion_matrix", "Jittable; rows true, columns predicted.", "jaxdl.metrics.confusion_matrix", ["notebooks/09_training_loop_metrics.py"]),
    V("sklearn classification_report / plot_confusion_matrix", "jaxdl.metrics.classification_report, jaxdl.plots.confusion_matrix", "Written to the workdir as text and PNG.", "jaxdl.metrics.classification_report", ["notebooks/09_training_loop_metrics.py"]),
    V("torchvision.utils.make_grid + imshow", "jaxdl.plots.image_grid", "Titles show predicted and true labels.", "jaxdl.plots.image_grid", ["experiments/cifar10.py"]),
    V("torchinfo.summary(model)", "jaxdl.summary.summary(model, x)", "Built on nnx.tabulate.", "jaxdl.summary.summary", ["experiments/iris.py"]),
    V("calculate_capacity(model)", "jaxdl.layers.count_params(model)", "Counts nnx.Param leaves.", "jaxdl.layers.count_params", ["notebooks/04_ann_tabular.py"]),
    V("torchvision.models", "jaxdl.models.vision", "torchvision's classification backbones as Flax NNX modules under torchvision's names, arguments and state_dict keys; NHWC images.", "jaxdl.models.vision", ["experiments/transfer_learning.py"]),
    V("torchvision.models.alexnet(pretrained=True)", "jaxdl.models.vision.alexnet(pretrained=True, rngs=nnx.Rngs(0))", "pretrained=True reads torchvision's file from the torch hub cache (else downloads it with torch hub's hash check); a path loads a .pth you have; rngs= seeds the random init.", "jaxdl.models.vision.alexnet", ["experiments/transfer_learning.py", "notebooks/08_transfer_learning.py"], ("torchvision.models.alexnet",)),
    V("torchvision.models.vgg.vgg16(pretrained=True)", "jaxdl.models.vision.vgg16(pretrained=True, rngs=...)", "Same submodules (features, avgpool, classifier) and keys; vgg16_bn from the same code.", "jaxdl.models.vision.vgg16", ["experiments/transfer_learning.py", "tests/parity/test_vision.py"], ("torchvision.models.vgg.vgg16",)),
    V("torchvision.models.vgg.vgg19(pretrained=True)", "jaxdl.models.vision.vgg19(pretrained=True, rngs=...)", "As vgg16 (configuration E).", "jaxdl.models.vision.vgg19", ["jaxdl/models/vision/vgg.py", "tests/parity/test_vision.py"], ("torchvision.models.vgg.vgg19",)),
    V("torchvision.models.resnet.resnet18(pretrained=True)", "jaxdl.models.vision.resnet18(pretrained=True, rngs=...)", "BatchNorm with torch's momentum and unbiased running variance; model.train() / model.eval() are NNX's (in a Learner: which step runs).", "jaxdl.models.vision.resnet18", ["experiments/transfer_learning.py", "tests/parity/test_vision.py"], ("torchvision.models.resnet.resnet18",)),
    V("torchvision.models.resnet.resnet152(pretrained=True)", "jaxdl.models.vision.resnet152(pretrained=True, rngs=...)", "Bottleneck blocks, the same keys; float32 rounding over 152 layers is torch's own (see the README's parity table).", "jaxdl.models.vision.resnet152", ["jaxdl/models/vision/resnet.py", "tests/parity/test_vision.py"], ("torchvision.models.resnet.resnet152",)),
    V("torchvision.models.inception.inception_v3(pretrained=True)", "jaxdl.models.vision.inception_v3(pretrained=True, rngs=...)", "Train mode with aux_logits returns InceptionOutputs(logits, aux_logits) as torchvision; aux_logits=False gives plain logits; 299x299 input (inception_transform).", "jaxdl.models.vision.inception_v3", ["experiments/transfer_learning.py", "tests/parity/test_vision.py"], ("torchvision.models.inception.inception_v3",)),
    V("alexnet.classifier = nn.Sequential(nn.Dropout(0.5), nn.Linear(256 * 6 * 6, 256), nn.ReLU(), nn.Linear(256, num_classes))", "model.classifier = nnx.Sequential(Dropout(0.5, rngs=r), Linear(256 * 6 * 6, 256, rngs=r), jax.nn.relu, Linear(256, num_classes, rngs=r))", "The same assignment; the Linear after the flatten sees (H, W, C) order, and AlexNet's torch_flatten ({'classifier.1': (256, 6, 6)}) makes interop permute its rows to and from torch.", "flax.nnx.Sequential", ["experiments/transfer_learning.py", "notebooks/08_transfer_learning.py"]),
    V("model.fc = nn.Identity(); with torch.no_grad(): features = model(x) (a frozen backbone's features, once)", "model.fc = jaxdl.layers.Identity(); jaxdl.train.predictions(learner, state, loader)", "The features of every image in loader order, computed once; the head then trains alone on an ArrayDataset of them (experiments/transfer_learning --cache-features).", "jaxdl.train.predictions", ["experiments/transfer_learning.py", "tests/test_transfer.py"], ("nn.Identity",)),
    R("with torch.autocast(device_type, dtype=torch.bfloat16): (mixed precision)", "Learner(..., precision='bf16') / --precision bf16", "bfloat16 convolutions and matmuls; parameters, optimizer state, losses and BatchNorm/LayerNorm statistics stay float32, so checkpoints are float32 files. For GPUs and TPUs: slower on CPUs.", "jaxdl.precision.policy", ["jaxdl/train.py"], ("torch.autocast",)),
    R("torch.backends.cuda.matmul.allow_tf32 / torch.set_float32_matmul_precision", "--matmul-precision highest|high|default", "jax_default_matmul_precision, set once by cli.setup; jaxdl's default 'highest' is torch's float32 matmuls (JAX's own default is TF32/bf16 passes on GPU/TPU).", "jaxdl.precision.set_matmul_precision", ["jaxdl/cli.py", "tests/conftest.py"]),
    R("DistributedDataParallel(model) + nn.SyncBatchNorm.convert_sync_batchnorm(model)", "Learner(..., parallel=DataParallel())", "Batches sharded over devices and hosts, parameters replicated, XLA inserts the gradient all-reduce. BatchNorm uses the global batch (SyncBatchNorm); DataParallel(batch_norm='per_replica') gives DDP's per-replica statistics.", "jaxdl.parallel.DataParallel", ["jaxdl/parallel.py", "tests/test_batchnorm_parallel.py"], ("nn.SyncBatchNorm",)),
    V("torchvision.ops.FrozenBatchNorm2d (a frozen backbone's BatchNorm)", "jaxdl.layers.freeze_batchnorm(backbone)", "Running statistics in train mode too, never updated: a frozen part's features do not depend on the batch. requires_grad = False alone leaves torch's BatchNorm updating its statistics.", "jaxdl.layers.freeze_batchnorm", ["experiments/transfer_learning.py", "tests/test_transfer.py"], ("FrozenBatchNorm2d",)),
]

def _normalise(name: str) -> str:
    for long, short in (("torch.nn.functional.", "F."), ("torch.nn.", "nn."), ("torch.optim.", "optim.")):
        if name.startswith(long):
            return short + name[len(long):]
    return name


def covered_names() -> set[str]:
    """Every name an entry covers: the names in its torch form and its aliases."""
    import re

    names: set[str] = set()
    for c in CONCEPTS:
        for token in re.findall(r"[A-Za-z_][A-Za-z0-9_.]*|\.[A-Za-z_]+", c.torch) + list(c.aliases):
            names.add(_normalise(token.rstrip(".")))
            if "." in token and not token.startswith("."):
                names.add("." + token.rsplit(".", 1)[1])  # x.item -> .item
    return names


def missing_names(names) -> list[str]:
    """The names of ``names`` (e.g. ``docs/notes_names.txt``'s) that no entry covers."""
    covered = covered_names()
    return [n for n in names if _normalise(n) not in covered]


def resolve(symbol: str):
    """Import a dotted path such as ``jaxdl.train.fit`` or ``jax.numpy.array``."""
    parts = symbol.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(symbol)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render() -> str:
    """The Markdown cheat sheet."""
    out = ["# PyTorch -> JAX / jaxdl: the concept map", "",
           "Generated from `jaxdl/concepts.py` by `python -m jaxdl.concepts`; do not edit by hand.",
           f"{len(CONCEPTS)} entries covering every PyTorch name and idiom used in the notes.", ""]
    sections = list(dict.fromkeys(c.section for c in CONCEPTS))
    for s in sections:
        out += [f"## {s}", "", "| PyTorch | JAX / jaxdl | what differs | shown in |", "| --- | --- | --- | --- |"]
        for c in CONCEPTS:
            if c.section == s:
                shown = ", ".join(f"[{Path(p).stem}](../{p})" for p in c.shown)
                out.append(f"| `{_cell(c.torch)}` | `{_cell(c.jax)}` | {_cell(c.differs)} | {shown} |")
        out.append("")
    return "\n".join(out)


DOC = Path(__file__).resolve().parent.parent / "docs" / "pytorch_to_jax.md"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--check":
        stale = not DOC.exists() or DOC.read_text() != render()
        print(f"{DOC} is {'stale: run python -m jaxdl.concepts' if stale else 'up to date'}")
        return int(stale)
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(render())
    print(f"wrote {DOC} ({len(CONCEPTS)} entries)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
