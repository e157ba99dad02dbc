// ClassifierTrainer<T>: one training step of a classification network, and batch gathering.
#pragma once

#include <algorithm>
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "convlayer/layers/layer.hpp"
#include "convlayer/layers/softmax_cross_entropy.hpp"
#include "convlayer/nn/optimizers.hpp"

namespace convlayer {

/// Copies samples order[first], ..., order[first + count - 1] of `all` (and their labels) into
/// `batch` and `batch_labels`, reusing their storage. Throws std::out_of_range for an index
/// outside `all`.
template <typename T>
void gather_batch(const Volume<T>& all, const std::vector<int>& labels, const std::vector<index_t>& order,
                  std::size_t first, std::size_t count, Volume<T>& batch, std::vector<int>& batch_labels) {
    if (first + count > order.size() || labels.size() != static_cast<std::size_t>(all.shape().n))
        throw std::out_of_range("gather_batch: range past the end of the order, or one label per sample missing");
    const Shape s = all.shape();
    batch.resize({static_cast<index_t>(count), s.h, s.w, s.d});
    batch_labels.resize(count);
    const index_t per = s.h * s.w * s.d;
    for (std::size_t i = 0; i < count; ++i) {
        const index_t src = order[first + i];
        if (src < 0 || src >= s.n) throw std::out_of_range("gather_batch: sample index outside the data set");
        std::copy_n(all.data() + src * per, per, batch.data() + static_cast<index_t>(i) * per);
        batch_labels[i] = labels[static_cast<std::size_t>(src)];
    }
}

/// Trains `network` (whose output is one logit per class) with softmax cross-entropy and
/// `optimizer`. It keeps the logits, their gradient and the parameter list between steps, so a
/// step allocates nothing once the batch size has been seen. When the network's parameter list
/// changes (Layer::structure_version(), e.g. a layer added), the next step takes the new list:
/// an optimiser that has not stepped yet follows it, one that has refuses it.
template <typename T>
class ClassifierTrainer {
public:
    /// Trains `network` with `optimizer`; both must outlive the trainer.
    ClassifierTrainer(Layer<T>& network, Optimizer<T>& optimizer)
        : network_(network), optimizer_(optimizer), params_(network.parameters()),
          structure_(network.structure_version()) {}

    /// forward, loss, backward, optimiser step; returns the batch's mean loss (before the step).
    T train_batch(const Volume<T>& x, const std::vector<int>& labels) {
        if (network_.structure_version() != structure_) {
            params_ = network_.parameters();
            structure_ = network_.structure_version();
        }
        network_.forward(x, logits_);
        const T loss = loss_.forward(logits_, labels);
        loss_.backward(dlogits_);
        network_.backward(x, dlogits_, nullptr);
        optimizer_.step(params_);
        return loss;
    }
    /// The network's predicted class for each sample of `x` (no training).
    const std::vector<int>& predict(const Volume<T>& x) {
        network_.forward(x, logits_);
        predicted_classes(logits_, predictions_);
        return predictions_;
    }
    /// Logits of the last train_batch() or predict().
    const Volume<T>& logits() const { return logits_; }

private:
    Layer<T>& network_;
    Optimizer<T>& optimizer_;
    std::vector<Parameter<T>> params_;
    std::uint64_t structure_;  // network_.structure_version() that params_ were taken at
    SoftmaxCrossEntropy<T> loss_;
    Volume<T> logits_, dlogits_;
    std::vector<int> predictions_;
};

}  // namespace convlayer
