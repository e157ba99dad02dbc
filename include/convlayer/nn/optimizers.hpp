// Optimisers: SGD with momentum and weight decay, and Adam, on any layer's parameter list.
#pragma once

#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "convlayer/core/eigen_types.hpp"
#include "convlayer/layers/layer.hpp"

namespace convlayer {

/// An optimiser updates parameter values from their gradients. It keeps per-parameter state
/// (velocities, moments), sized on the first step() and reused; later steps must be given the
/// same parameter list (the same tensors, in the same order), else std::invalid_argument: a
/// network whose parameters changed needs a new optimiser.
template <typename T>
class Optimizer {
public:
    virtual ~Optimizer() = default;
    /// One update of every parameter in `params` from its current gradient; each is then
    /// mark_changed(), so layers rebuild what they derive from it.
    void step(const std::vector<Parameter<T>>& params) {
        if (steps_ == 0) {
            for (const auto& p : params) stepped_.push_back({p.value, p.size});
            allocate_state(params);
        } else {
            check_same(params);
        }
        for (std::size_t i = 0; i < params.size(); ++i) {
            update(i, params[i]);
            params[i].mark_changed();
        }
        ++steps_;
    }
    /// Updates `layer`'s (or a network's) parameters.
    void step(Layer<T>& layer) { step(layer.parameters()); }

    /// The step size lr.
    T learning_rate() const { return lr_; }
    /// Sets lr for the following steps (schedules); std::invalid_argument unless positive.
    void set_learning_rate(T lr) {
        if (!(lr > T(0))) throw std::invalid_argument("Optimizer: learning rate must be positive");
        lr_ = lr;
    }
    /// Number of step() calls completed.
    long steps() const { return steps_; }

protected:
    /// Starts with learning rate `lr`; std::invalid_argument unless positive.
    explicit Optimizer(T lr) { set_learning_rate(lr); }
    /// Sizes the per-parameter state for `params`, on the first step().
    virtual void allocate_state(const std::vector<Parameter<T>>& params) = 0;
    /// Updates the values of `p`, parameter `i` of the list, from its gradient and its state.
    virtual void update(std::size_t i, const Parameter<T>& p) = 0;

    /// The learning rate.
    T lr_ = 0;
    /// Steps completed before the current one (0 during the first update()).
    long steps_ = 0;

private:
    void check_same(const std::vector<Parameter<T>>& params) const {
        bool same = params.size() == stepped_.size();
        for (std::size_t i = 0; same && i < params.size(); ++i)
            same = params[i].value == stepped_[i].value && params[i].size == stepped_[i].size;
        if (!same) {
            std::ostringstream os;
            os << "Optimizer::step: given " << params.size() << " parameter tensors, but the optimiser's state was "
               << "built for " << stepped_.size() << " others (the network changed, or another one was given); "
               << "use a new optimiser for a network whose parameters changed";
            throw std::invalid_argument(os.str());
        }
    }
    struct Stepped {
        const T* value;
        index_t size;
    };
    std::vector<Stepped> stepped_;  // the tensors of the first step
};

/// SGD as in PyTorch: g = grad + weight_decay * w;  v = momentum * v + g (v = g on the first
/// step);  w -= lr * v  (Nesterov: w -= lr * (g + momentum * v)).
template <typename T>
struct SgdOptions {
    /// Momentum in [0, 1); 0 is plain SGD.
    T momentum = T(0);
    /// L2 penalty coefficient added to the gradient (>= 0).
    T weight_decay = T(0);
    /// Use Nesterov momentum.
    bool nesterov = false;
};

/// Stochastic gradient descent with optional momentum, Nesterov momentum and weight decay, with
/// the update rule of SgdOptions.
template <typename T>
class Sgd : public Optimizer<T> {
public:
    /// The hyperparameters other than the learning rate.
    using Options = SgdOptions<T>;
    /// SGD with learning rate `lr`; std::invalid_argument unless lr > 0, momentum in [0, 1) and
    /// weight decay >= 0.
    explicit Sgd(T lr, Options o = {}) : Optimizer<T>(lr), o_(o) {
        if (o.momentum < T(0) || o.momentum >= T(1) || o.weight_decay < T(0))
            throw std::invalid_argument("Sgd: momentum must be in [0, 1) and weight decay non-negative");
    }

protected:
    /// One zero velocity per parameter.
    void allocate_state(const std::vector<Parameter<T>>& params) override {
        velocity_.clear();
        for (const auto& p : params) velocity_.push_back(Vector<T>::Zero(p.size));
    }
    /// The SGD update of `p` (velocity `i` unused without momentum).
    void update(std::size_t i, const Parameter<T>& p) override {
        auto w = p.values();
        const auto g = p.gradients().array() + o_.weight_decay * w.array();
        if (o_.momentum == T(0)) {
            w.array() -= this->lr_ * g;
            return;
        }
        auto v = velocity_[i].array();
        if (this->steps_ == 0) v = g;
        else v = o_.momentum * v + g;
        if (o_.nesterov) w.array() -= this->lr_ * (g + o_.momentum * v);
        else w.array() -= this->lr_ * v;
    }

private:
    Options o_;
    std::vector<Vector<T>> velocity_;
};

/// Adam (Kingma & Ba 2015) as in PyTorch: g = grad + weight_decay * w;
/// m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
/// w -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).
template <typename T>
struct AdamOptions {
    /// Decay rate of the first moment m, in [0, 1).
    T beta1 = T(0.9);
    /// Decay rate of the second moment v, in [0, 1).
    T beta2 = T(0.999);
    /// Added to sqrt(v) in the denominator (> 0).
    T eps = T(1e-8);
    /// L2 penalty coefficient added to the gradient (>= 0; not AdamW's decoupled decay).
    T weight_decay = T(0);
};

/// Adam with bias correction and optional L2 weight decay, with the update rule of AdamOptions.
template <typename T>
class Adam : public Optimizer<T> {
public:
    /// The hyperparameters other than the learning rate.
    using Options = AdamOptions<T>;
    /// Adam with learning rate `lr`; std::invalid_argument unless lr > 0, betas in [0, 1), eps > 0
    /// and weight decay >= 0.
    explicit Adam(T lr = T(1e-3), Options o = {}) : Optimizer<T>(lr), o_(o) {
        if (!(o.beta1 >= T(0) && o.beta1 < T(1) && o.beta2 >= T(0) && o.beta2 < T(1) && o.eps > T(0) &&
              o.weight_decay >= T(0)))
            throw std::invalid_argument("Adam: betas must be in [0, 1), eps positive, weight decay non-negative");
    }

protected:
    /// Zero first and second moments per parameter.
    void allocate_state(const std::vector<Parameter<T>>& params) override {
        m_.clear();
        v_.clear();
        for (const auto& p : params) {
            m_.push_back(Vector<T>::Zero(p.size));
            v_.push_back(Vector<T>::Zero(p.size));
        }
    }
    /// The Adam update of `p` with moments `i`, bias-corrected for step steps_ + 1.
    void update(std::size_t i, const Parameter<T>& p) override {
        auto w = p.values();
        const auto g = p.gradients().array() + o_.weight_decay * w.array();
        auto m = m_[i].array();
        auto v = v_[i].array();
        m = o_.beta1 * m + (T(1) - o_.beta1) * g;
        v = o_.beta2 * v + (T(1) - o_.beta2) * g.square();
        const T t = static_cast<T>(this->steps_ + 1);
        const T c1 = T(1) - std::pow(o_.beta1, t), c2 = T(1) - std::pow(o_.beta2, t);
        w.array() -= this->lr_ * (m / c1) / ((v / c2).sqrt() + o_.eps);
    }

private:
    Options o_;
    std::vector<Vector<T>> m_, v_;
};

}  // namespace convlayer
