"""The notes' PyTorch classes, written as the notes write them: the reference side of the
parity tests, notebooks and benchmarks. Needs torch (the `dev` extra)."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class LinearRegression(nn.Module):  # 000 / 004
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(1, 1)

    def forward(self, x):
        return self.linear(x)


class LogisticRegression(nn.Module):  # 004
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(1, 1)

    def forward(self, x):
        return torch.sigmoid(self.linear(x))


class IrisModel(nn.Module):  # 000's Model
    def __init__(self, in_features=4, h1=8, h2=9, out_features=3):
        super().__init__()
        self.fc1 = nn.Linear(in_features, h1)
        self.fc2 = nn.Linear(h1, h2)
        self.out = nn.Linear(h2, out_features)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return F.relu(self.out(x))


class WideDeep(nn.Module):  # 004
    def __init__(self):
        super().__init__()
        self.l1, self.l2, self.l3 = nn.Linear(8, 6), nn.Linear(6, 4), nn.Linear(4, 1)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        return self.sigmoid(self.l3(self.sigmoid(self.l2(self.sigmoid(self.l1(x))))))


class Net(nn.Module):  # 004 MNIST
    def __init__(self):
        super().__init__()
        self.l1, self.l2, self.l3 = nn.Linear(784, 520), nn.Linear(520, 320), nn.Linear(320, 240)
        self.l4, self.l5 = nn.Linear(240, 120), nn.Linear(120, 10)

    def forward(self, x):
        x = x.view(-1, 784)
        x = F.relu(self.l1(x))
        x = F.relu(self.l2(x))
        x = F.relu(self.l3(x))
        x = F.relu(self.l4(x))
        return self.l5(x)


class BinaryANN(nn.Module):  # 002's ANN
    def __init__(self):
        super().__init__()
        self.layer1 = nn.Linear(28 * 28, 30)
        self.drop = nn.Dropout(p=0.3)
        self.layer2 = nn.Linear(30, 1)

    def forward(self, img):
        flattened = img.view(-1, 28 * 28)
        activation1 = F.relu(self.drop(self.layer1(flattened)))
        return self.drop(self.layer2(activation1))


class MNISTClassifier(nn.Module):  # 002
    def __init__(self):
        super().__init__()
        self.layer1 = nn.Linear(28 * 28, 50)
        self.bn = nn.BatchNorm1d(50)
        self.layer2 = nn.Linear(50, 20)
        self.ln = nn.LayerNorm(20)
        self.layer3 = nn.Linear(20, 10)

    def forward(self, img):
        flattened = img.view(-1, 28 * 28)
        activation1 = self.bn(F.relu(self.layer1(flattened)))
        activation2 = self.ln(F.relu(self.layer2(activation1)))
        return self.layer3(activation2)


class FashionMNISTModel(nn.Module):  # learnpytorch V0 (001)
    def __init__(self, input_shape=784, hidden_units=10, output_shape=10):
        super().__init__()
        self.layer_stack = nn.Sequential(nn.Flatten(), nn.Linear(input_shape, hidden_units),
                                         nn.Linear(hidden_units, output_shape))

    def forward(self, x):
        return self.layer_stack(x)


class ConvolutionalNetwork(nn.Module):  # 000
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 3, 1)
        self.conv2 = nn.Conv2d(6, 16, 3, 1)
        self.fc1 = nn.Linear(5 * 5 * 16, 100)
        self.fc2 = nn.Linear(100, 10)

    def forward(self, X):
        X = F.relu(self.conv1(X))
        X = F.max_pool2d(X, 2, 2)
        X = F.relu(self.conv2(X))
        X = F.max_pool2d(X, 2, 2)
        X = X.view(-1, 5 * 5 * 16)
        X = F.relu(self.fc1(X))
        X = self.fc2(X)
        return F.log_softmax(X, dim=1)


class LeNet5(nn.Module):  # 002 (F.reul read as F.relu)
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(5 * 5 * 16, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = x.view(-1, 5 * 5 * 16)
        x = torch.tanh(self.fc1(x))
        x = torch.tanh(self.fc2(x))
        return self.fc3(x)


class TinyVGG(nn.Module):  # the notes' FashionNISTCNN = learnpytorch FashionMNISTModelV2
    def __init__(self, input_shape=1, hidden_units=10, output_shape=10):
        super().__init__()
        h = hidden_units
        self.block_1 = nn.Sequential(nn.Conv2d(input_shape, h, 3, 1, 1), nn.ReLU(), nn.Conv2d(h, h, 3, 1, 1),
                                     nn.ReLU(), nn.MaxPool2d(2))
        self.block_2 = nn.Sequential(nn.Conv2d(h, h, 3, 1, 1), nn.ReLU(), nn.Conv2d(h, h, 3, 1, 1),
                                     nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(h * 7 * 7, output_shape))

    def forward(self, x):
        return self.classifier(self.block_2(self.block_1(x)))


class CifarNet(nn.Module):  # 004's Net
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = x.view(-1, 16 * 5 * 5)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class CNN(nn.Module):  # 002
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels=3, out_channels=5, kernel_size=5)
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
        self.conv2 = nn.Conv2d(5, 10, 5)
        self.fc1 = nn.Linear(10 * 5 * 5, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = x.view(-1, 10 * 5 * 5)
        x = F.relu(self.fc1(x))
        return self.fc2(x)


class LSTMNetwork(nn.Module):  # 000's LSTMnetwork
    def __init__(self, input_size=1, hidden_size=100, output_size=1):
        super().__init__()
        self.hidden_size = hidden_size
        self.lstm = nn.LSTM(input_size, hidden_size)
        self.linear = nn.Linear(hidden_size, output_size)

    def forward(self, seq):
        hidden = (torch.zeros(1, 1, self.hidden_size, dtype=seq.dtype, device=seq.device),
                  torch.zeros(1, 1, self.hidden_size, dtype=seq.dtype, device=seq.device))
        lstm_out, _ = self.lstm(seq.view(len(seq), 1, -1), hidden)
        pred = self.linear(lstm_out.view(len(seq), -1))
        return pred[-1]


class TabularModel(nn.Module):  # 000's TabularModel (moved here from tests/parity/test_tabular.py)
    def __init__(self, emb_szs, n_cont, out_sz, layers, p=0.5):
        super().__init__()
        self.embeds = nn.ModuleList([nn.Embedding(ni, nf) for ni, nf in emb_szs])
        self.emb_drop = nn.Dropout(p)
        self.bn_cont = nn.BatchNorm1d(n_cont)
        layerlist, n_in = [], sum(nf for ni, nf in emb_szs) + n_cont
        for i in layers:
            layerlist += [nn.Linear(n_in, i), nn.ReLU(inplace=True), nn.BatchNorm1d(i), nn.Dropout(p)]
            n_in = i
        layerlist.append(nn.Linear(layers[-1], out_sz))
        self.layers = nn.Sequential(*layerlist)

    def forward(self, x_cat, x_cont):
        x = torch.cat([e(x_cat[:, i]) for i, e in enumerate(self.embeds)], 1)
        x = self.emb_drop(x)
        x = torch.cat([x, self.bn_cont(x_cont)], 1)
        return self.layers(x)
