//! ConvLSTM (Shi et al. 2015) over the slice axis, and a classifier that runs a 2-D backbone per
//! slice and a ConvLSTM over the slice feature maps (length-insensitive like COVNet).

use burn::nn::conv::Conv2d;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::{sigmoid, tanh};

use crate::covnet::{Backbone, BackboneConfig};
use crate::error::{Error, Result, invalid};
use crate::layers::conv;
use crate::util::global_avg;

/// Configuration of a [`ConvLstm`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvLstmConfig {
    /// Channels of each input step.
    pub in_channels: usize,
    /// Channels of the hidden and cell states.
    pub hidden_channels: usize,
    /// Odd kernel size of the gate convolution.
    pub kernel_size: usize,
}

impl ConvLstmConfig {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        if self.in_channels == 0 || self.hidden_channels == 0 {
            return Err(invalid("in_channels/hidden_channels", "must be at least 1"));
        }
        if self.kernel_size.is_multiple_of(2) {
            return Err(invalid(
                "kernel_size",
                format!("must be odd, got {}", self.kernel_size),
            ));
        }
        Ok(())
    }

    /// Builds the cell with random weights.
    pub fn init(&self, device: &Device) -> Result<ConvLstm> {
        self.validate()?;
        let k = self.kernel_size;
        Ok(ConvLstm {
            gates: conv(
                device,
                self.in_channels + self.hidden_channels,
                4 * self.hidden_channels,
                k,
                1,
                k / 2,
                1,
                true,
            ),
            in_channels: self.in_channels,
            hidden_channels: self.hidden_channels,
        })
    }
}

/// A ConvLSTM layer. The gate conv maps [x_t, h_{t-1}] to (i, f, g, o), in that channel order:
/// c_t = σ(f)·c_{t-1} + σ(i)·tanh(g), h_t = σ(o)·tanh(c_t), with h_0 = c_0 = 0.
#[derive(Module, Debug)]
pub struct ConvLstm {
    gates: Conv2d,
    in_channels: usize,
    hidden_channels: usize,
}

impl ConvLstm {
    /// Runs over the S axis: (B, S, C, H, W) -> (all h_t as (B, S, hidden, H, W), final h_S,
    /// final c_S). Errors if S = 0 or C differs from `in_channels`.
    pub fn forward(&self, x: Tensor<5>) -> Result<(Tensor<5>, Tensor<4>, Tensor<4>)> {
        let [b, s, c, h, w] = x.dims();
        if s == 0 {
            return Err(Error::NoSlices { what: "x" });
        }
        if c != self.in_channels {
            return Err(Error::ChannelMismatch {
                what: "x",
                expected: self.in_channels,
                found: c,
            });
        }
        let hid = self.hidden_channels;
        let device = x.device();
        let mut hs = Tensor::<4>::zeros([b, hid, h, w], &device);
        let mut cs = Tensor::<4>::zeros([b, hid, h, w], &device);
        let mut outputs = Vec::with_capacity(s);
        for t in 0..s {
            let xt = x.clone().narrow(1, t, 1).reshape([b, c, h, w]);
            let z = self.gates.forward(Tensor::cat(vec![xt, hs], 1));
            let i = sigmoid(z.clone().narrow(1, 0, hid));
            let f = sigmoid(z.clone().narrow(1, hid, hid));
            let g = tanh(z.clone().narrow(1, 2 * hid, hid));
            let o = sigmoid(z.narrow(1, 3 * hid, hid));
            cs = f * cs + i * g;
            hs = o * tanh(cs.clone());
            outputs.push(hs.clone());
        }
        Ok((Tensor::stack(outputs, 1), hs, cs))
    }
}

/// Configuration of a [`ConvLstmNet`].
#[derive(Debug, Clone, PartialEq)]
pub struct ConvLstmNetConfig {
    /// Per-slice backbone.
    pub backbone: BackboneConfig,
    /// ConvLSTM hidden channels.
    pub hidden_channels: usize,
    /// ConvLSTM kernel size.
    pub kernel_size: usize,
    /// Output classes.
    pub num_classes: usize,
}

impl ConvLstmNetConfig {
    /// Builds the network with random weights.
    pub fn init(&self, device: &Device) -> Result<ConvLstmNet> {
        if self.num_classes == 0 {
            return Err(invalid("num_classes", "must be at least 1"));
        }
        let backbone = match &self.backbone {
            BackboneConfig::ResNet(c) => Backbone::ResNet(c.init(device)?),
            BackboneConfig::DenseNet(c) => Backbone::DenseNet(c.init(device)?),
            BackboneConfig::Csrnet(c) => Backbone::Csrnet(c.init(device)?),
        };
        let lstm = ConvLstmConfig {
            in_channels: backbone.feature_channels(),
            hidden_channels: self.hidden_channels,
            kernel_size: self.kernel_size,
        }
        .init(device)?;
        Ok(ConvLstmNet {
            backbone,
            lstm,
            fc: LinearConfig::new(self.hidden_channels, self.num_classes).init(device),
        })
    }
}

/// Backbone per slice, ConvLSTM over the slice feature maps, global average pool of the last
/// hidden state, linear head.
#[derive(Module, Debug)]
pub struct ConvLstmNet {
    backbone: Backbone,
    lstm: ConvLstm,
    fc: Linear,
}

impl ConvLstmNet {
    /// Logits: (B, S, C, H, W) -> (B, classes), any S ≥ 1.
    pub fn forward(&self, x: Tensor<5>) -> Result<Tensor<2>> {
        let [b, s, c, h, w] = x.dims();
        if s == 0 {
            return Err(Error::NoSlices { what: "x" });
        }
        if c != self.backbone.in_channels() {
            return Err(Error::ChannelMismatch {
                what: "x",
                expected: self.backbone.in_channels(),
                found: c,
            });
        }
        let maps = self.backbone.features(x.reshape([b * s, c, h, w]))?;
        let [_, f, fh, fw] = maps.dims();
        let (_, last, _) = self.lstm.forward(maps.reshape([b, s, f, fh, fw]))?;
        Ok(self.fc.forward(global_avg(last)))
    }
}
