using TorchSharp;
using static TorchSharp.torch;

namespace ImprovedDdpm;

/// <summary>
/// The Gaussian diffusion process of the reference's <c>GaussianDiffusion</c> and <c>SpacedDiffusion</c> (Ho et al.
/// 2020; Nichol &amp; Dhariwal 2021): forward noising, the reverse process of a network passed in, the training losses,
/// ancestral and DDIM sampling, and the variational bound in bits per dimension. The tables are float64; each value is
/// gathered at t in float64 and cast to float32 for the tensor math, as the reference does.
/// </summary>
public sealed class GaussianDiffusion
{
    static readonly double Ln2 = Math.Log(2.0);

    readonly DiffusionTables tables;
    readonly DeviceTables deviceTables;

    /// <param name="betas">The base process's betas (e.g. <see cref="BetaSchedules.Create"/>).</param>
    /// <param name="respacing">Which steps to keep (<see cref="TimestepRespacing"/>); null or empty keeps all.</param>
    public GaussianDiffusion(double[] betas, ModelMeanType meanType, ModelVarType varType, LossType lossType,
        bool rescaleTimesteps = true, string? respacing = null)
        : this(new DiffusionTables(betas), meanType, varType, lossType, rescaleTimesteps, respacing)
    {
    }

    /// <param name="baseTables">The base process's tables (e.g. a generated model's <c>Schedule.ToTables()</c>).</param>
    /// <param name="respacing">Which steps to keep (<see cref="TimestepRespacing"/>); null or empty keeps all.</param>
    public GaussianDiffusion(DiffusionTables baseTables, ModelMeanType meanType, ModelVarType varType, LossType lossType,
        bool rescaleTimesteps = true, string? respacing = null)
    {
        MeanType = meanType;
        VarType = varType;
        LossType = lossType;
        RescaleTimesteps = rescaleTimesteps;
        OriginalNumTimesteps = baseTables.NumTimesteps;
        var kept = TimestepRespacing.SpaceTimesteps(baseTables.NumTimesteps, respacing);
        tables = kept.Length == baseTables.NumTimesteps
            ? baseTables
            : new DiffusionTables(TimestepRespacing.RespacedBetas(baseTables.AlphasCumprod, kept));
        TimestepMap = kept;
        deviceTables = new DeviceTables(tables, kept);
    }

    public ModelMeanType MeanType { get; }
    public ModelVarType VarType { get; }
    public LossType LossType { get; }
    public bool RescaleTimesteps { get; }

    /// <summary>Steps of this (possibly respaced) process.</summary>
    public int NumTimesteps => tables.NumTimesteps;

    /// <summary>Steps of the process the network was trained on.</summary>
    public int OriginalNumTimesteps { get; }

    /// <summary>For each step of this process, the original timestep it stands for (reference: <c>timestep_map</c>).</summary>
    public IReadOnlyList<int> TimestepMap { get; }

    /// <summary>The float64 tables of this (possibly respaced) process.</summary>
    public DiffusionTables Tables => tables;

    bool LearnsVariance => VarType is ModelVarType.Learned or ModelVarType.LearnedRange;

    // ---- The forward process -------------------------------------------------------------------------------------

    /// <summary>q(x_t | x_0) (reference: <c>q_mean_variance</c>).</summary>
    public GaussianMoments QMeanVariance(Tensor xStart, Tensor t) => new(
        Extract(Table.SqrtAlphasCumprod, t, xStart.shape) * xStart,
        Extract(Table.OneMinusAlphasCumprod, t, xStart.shape),
        Extract(Table.LogOneMinusAlphasCumprod, t, xStart.shape));

    /// <summary>A draw from q(x_t | x_0) with the given standard normal noise (reference: <c>q_sample</c>).</summary>
    public Tensor QSample(Tensor xStart, Tensor t, Tensor noise)
    {
        RequireSameShape(xStart, noise, "noise");
        using var scope = NewDisposeScope();
        var sample = (Extract(Table.SqrtAlphasCumprod, t, xStart.shape) * xStart)
            .Plus(Extract(Table.SqrtOneMinusAlphasCumprod, t, xStart.shape) * noise);
        return sample.MoveToOuterDisposeScope();
    }

    /// <summary>The posterior q(x_{t−1} | x_t, x_0) (reference: <c>q_posterior_mean_variance</c>).</summary>
    public GaussianMoments QPosteriorMeanVariance(Tensor xStart, Tensor xT, Tensor t)
    {
        RequireSameShape(xStart, xT, "x_t");
        using var scope = NewDisposeScope();
        var mean = (Extract(Table.PosteriorMeanCoef1, t, xT.shape) * xStart).Plus(Extract(Table.PosteriorMeanCoef2, t, xT.shape) * xT);
        return new GaussianMoments(
            mean.MoveToOuterDisposeScope(),
            Extract(Table.PosteriorVariance, t, xT.shape).MoveToOuterDisposeScope(),
            Extract(Table.PosteriorLogVarianceClipped, t, xT.shape).MoveToOuterDisposeScope());
    }

    // ---- Conversions between predictions ---------------------------------------------------------------------------

    /// <summary>x_0 = x_t/√ᾱ_t − √(1/ᾱ_t − 1)·ε (reference: <c>_predict_xstart_from_eps</c>).</summary>
    public Tensor PredictXStartFromEps(Tensor xT, Tensor t, Tensor eps)
    {
        RequireSameShape(xT, eps, "eps");
        using var scope = NewDisposeScope();
        return (Extract(Table.SqrtRecipAlphasCumprod, t, xT.shape) * xT - Extract(Table.SqrtRecipm1AlphasCumprod, t, xT.shape) * eps)
            .MoveToOuterDisposeScope();
    }

    /// <summary>x_0 = (x_{t−1} − coef2·x_t)/coef1 (reference: <c>_predict_xstart_from_xprev</c>).</summary>
    public Tensor PredictXStartFromXPrev(Tensor xT, Tensor t, Tensor xPrev)
    {
        RequireSameShape(xT, xPrev, "x_prev");
        using var scope = NewDisposeScope();
        return (Extract(Table.RecipPosteriorMeanCoef1, t, xT.shape) * xPrev - Extract(Table.PosteriorMeanCoef2OverCoef1, t, xT.shape) * xT)
            .MoveToOuterDisposeScope();
    }

    /// <summary>ε = (x_t/√ᾱ_t − x_0)/√(1/ᾱ_t − 1) (reference: <c>_predict_eps_from_xstart</c>).</summary>
    public Tensor PredictEpsFromXStart(Tensor xT, Tensor t, Tensor predXStart)
    {
        using var scope = NewDisposeScope();
        return ((Extract(Table.SqrtRecipAlphasCumprod, t, xT.shape) * xT - predXStart) / Extract(Table.SqrtRecipm1AlphasCumprod, t, xT.shape))
            .MoveToOuterDisposeScope();
    }

    // ---- The reverse process ---------------------------------------------------------------------------------------

    /// <summary>
    /// The timesteps as the network receives them: the original timestep of each respaced step, scaled to [0, 1000)
    /// as float when <see cref="RescaleTimesteps"/> (reference: <c>_scale_timesteps</c> / <c>_WrappedModel</c>).
    /// </summary>
    public Tensor NetworkTimesteps(Tensor t)
    {
        var mapped = deviceTables.Get(Table.TimestepMap, t.device).index_select(0, t);
        if (!RescaleTimesteps) return mapped;
        using var scope = NewDisposeScope();
        return mapped.to(ScalarType.Float32).Times(1000.0 / OriginalNumTimesteps).MoveToOuterDisposeScope();
    }

    /// <summary>Applies the network at step t of this process.</summary>
    public Tensor RunNetwork(IDiffusionNetwork network, Tensor x, Tensor t, Tensor? y = null)
    {
        using var scope = NewDisposeScope();
        return network.forward(x, NetworkTimesteps(t), y).MoveToOuterDisposeScope();
    }

    /// <summary>p(x_{t−1} | x_t) from the network and its x_0 prediction (reference: <c>p_mean_variance</c>).</summary>
    public MeanVariance PMeanVariance(IDiffusionNetwork network, Tensor x, Tensor t, bool clipDenoised = true, Tensor? y = null)
    {
        using var scope = NewDisposeScope();
        var output = RunNetwork(network, x, t, y);
        var result = PMeanVarianceFromOutput(output, x, t, clipDenoised);
        return MoveOut(result);
    }

    /// <summary><see cref="PMeanVariance"/> for a network output already computed.</summary>
    public MeanVariance PMeanVarianceFromOutput(Tensor modelOutput, Tensor x, Tensor t, bool clipDenoised)
    {
        using var scope = NewDisposeScope();
        var channels = x.shape[1];
        Tensor variance, logVariance;
        if (LearnsVariance)
        {
            var expected = x.shape.ToArray();
            expected[1] = 2 * channels;
            if (!modelOutput.shape.SequenceEqual(expected))
                throw new ArgumentException($"a learned variance needs the network to output [{string.Join(",", expected)}]; it gave [{string.Join(",", modelOutput.shape)}]");
            var halves = modelOutput.split(channels, 1);
            modelOutput = halves[0];
            var varValues = halves[1];
            if (VarType == ModelVarType.Learned)
            {
                logVariance = varValues;
            }
            else
            {
                var minLog = Extract(Table.PosteriorLogVarianceClipped, t, x.shape);
                var maxLog = Extract(Table.LogBetas, t, x.shape);
                var frac = varValues.Plus(1).DividedBy(2);
                logVariance = (frac * maxLog).Plus(frac.SubtractedFrom(1) * minLog);
            }
            variance = exp(logVariance);
        }
        else
        {
            RequireSameShape(x, modelOutput, "network output");
            var (varianceTable, logVarianceTable) = VarType == ModelVarType.FixedLarge
                ? (Table.FixedLargeVariance, Table.FixedLargeLogVariance)
                : (Table.PosteriorVariance, Table.PosteriorLogVarianceClipped);
            variance = Extract(varianceTable, t, x.shape);
            logVariance = Extract(logVarianceTable, t, x.shape);
        }

        Tensor predXStart, mean;
        switch (MeanType)
        {
            case ModelMeanType.PreviousX:
                predXStart = ProcessXStart(PredictXStartFromXPrev(x, t, modelOutput), clipDenoised);
                mean = modelOutput;
                break;
            case ModelMeanType.StartX:
                predXStart = ProcessXStart(modelOutput, clipDenoised);
                mean = QPosteriorMeanVariance(predXStart, x, t).Mean;
                break;
            case ModelMeanType.Epsilon:
                predXStart = ProcessXStart(PredictXStartFromEps(x, t, modelOutput), clipDenoised);
                mean = QPosteriorMeanVariance(predXStart, x, t).Mean;
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(MeanType), MeanType, "unknown mean type");
        }
        return MoveOut(new MeanVariance(mean, variance, logVariance, predXStart));
    }

    static Tensor ProcessXStart(Tensor x, bool clip) => clip ? x.ClampTo(-1, 1) : x;

    /// <summary>One ancestral step x_t → x_{t−1}; draws one noise tensor, also at t = 0 (reference: <c>p_sample</c>).</summary>
    public SampleStep PSample(IDiffusionNetwork network, Tensor x, Tensor t, INoiseSource noise, bool clipDenoised = true, Tensor? y = null)
    {
        using var scope = NewDisposeScope();
        var output = PMeanVariance(network, x, t, clipDenoised, y);
        var draw = noise.Next(x.shape).to(x.device);
        var sample = output.Mean.Plus(NonZeroMask(t, x) * exp(output.LogVariance.Times(0.5)) * draw);
        return new SampleStep(sample.MoveToOuterDisposeScope(), output.PredXStart.MoveToOuterDisposeScope());
    }

    /// <summary>One DDIM step x_t → x_{t−1} with stochasticity η; draws one noise tensor (reference: <c>ddim_sample</c>).</summary>
    public SampleStep DdimSample(IDiffusionNetwork network, Tensor x, Tensor t, INoiseSource noise, double eta = 0.0, bool clipDenoised = true, Tensor? y = null)
    {
        using var scope = NewDisposeScope();
        var output = PMeanVariance(network, x, t, clipDenoised, y);
        var eps = PredictEpsFromXStart(x, t, output.PredXStart);
        var alphaBar = Extract(Table.AlphasCumprod, t, x.shape);
        var alphaBarPrev = Extract(Table.AlphasCumprodPrev, t, x.shape);
        var sigma = sqrt(alphaBarPrev.SubtractedFrom(1) / alphaBar.SubtractedFrom(1)).Times(eta) * sqrt((alphaBar / alphaBarPrev).SubtractedFrom(1));
        var draw = noise.Next(x.shape).to(x.device);
        var meanPred = (output.PredXStart * sqrt(alphaBarPrev)).Plus(sqrt(alphaBarPrev.SubtractedFrom(1) - sigma.Power(2)) * eps);
        var sample = meanPred.Plus(NonZeroMask(t, x) * sigma * draw);
        return new SampleStep(sample.MoveToOuterDisposeScope(), output.PredXStart.MoveToOuterDisposeScope());
    }

    /// <summary>The deterministic DDIM step x_t → x_{t+1} (reference: <c>ddim_reverse_sample</c>, η = 0 only).</summary>
    public SampleStep DdimReverseSample(IDiffusionNetwork network, Tensor x, Tensor t, bool clipDenoised = true, Tensor? y = null)
    {
        using var scope = NewDisposeScope();
        var output = PMeanVariance(network, x, t, clipDenoised, y);
        var eps = PredictEpsFromXStart(x, t, output.PredXStart);
        var alphaBarNext = Extract(Table.AlphasCumprodNext, t, x.shape);
        var meanPred = (output.PredXStart * sqrt(alphaBarNext)).Plus(sqrt(alphaBarNext.SubtractedFrom(1)) * eps);
        return new SampleStep(meanPred.MoveToOuterDisposeScope(), output.PredXStart.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Ancestral sampling from pure noise down to t = 0 (reference: <c>p_sample_loop</c>). Runs without autograd, with
    /// one dispose scope per step so memory stays flat over thousands of steps.
    /// </summary>
    /// <param name="progress">Told the number of steps done after each step.</param>
    public Tensor PSampleLoop(IDiffusionNetwork network, long[] shape, INoiseSource noise, bool clipDenoised = true, Tensor? y = null, IProgress<int>? progress = null) =>
        SampleLoop(shape, noise, progress, (x, t) => PSample(network, x, t, noise, clipDenoised, y));

    /// <summary>DDIM sampling from pure noise down to t = 0 (reference: <c>ddim_sample_loop</c>); memory as <see cref="PSampleLoop"/>.</summary>
    public Tensor DdimSampleLoop(IDiffusionNetwork network, long[] shape, INoiseSource noise, double eta = 0.0, bool clipDenoised = true, Tensor? y = null, IProgress<int>? progress = null) =>
        SampleLoop(shape, noise, progress, (x, t) => DdimSample(network, x, t, noise, eta, clipDenoised, y));

    Tensor SampleLoop(long[] shape, INoiseSource noise, IProgress<int>? progress, Func<Tensor, Tensor, SampleStep> step)
    {
        using var gradients = no_grad();
        using var loopScope = NewDisposeScope();
        var image = noise.Next(shape);
        for (var i = NumTimesteps - 1; i >= 0; i--)
        {
            using var stepScope = NewDisposeScope();
            using var timestep = i.ToScalar();
            var t = full(shape[0], timestep, ScalarType.Int64, image.device);
            var next = step(image, t).Sample.MoveToOuterDisposeScope();
            image.Dispose();
            image = next;
            progress?.Report(NumTimesteps - i);
        }
        return image.MoveToOuterDisposeScope();
    }

    // ---- Losses and the variational bound --------------------------------------------------------------------------

    /// <summary>
    /// The VLB term L_{t−1} in bits for each example: KL(q(x_{t−1}|x_t,x_0) ‖ p(x_{t−1}|x_t)), or at t = 0 the
    /// discretised Gaussian decoder NLL (reference: <c>_vb_terms_bpd</c>).
    /// </summary>
    public (Tensor Output, Tensor PredXStart) VbTermsBpd(Tensor modelOutput, Tensor xStart, Tensor xT, Tensor t, bool clipDenoised)
    {
        using var scope = NewDisposeScope();
        var truePosterior = QPosteriorMeanVariance(xStart, xT, t);
        var output = PMeanVarianceFromOutput(modelOutput, xT, t, clipDenoised);
        var kl = GaussianLosses.MeanFlat(GaussianLosses.NormalKl(truePosterior.Mean, truePosterior.LogVariance, output.Mean, output.LogVariance)).DividedBy(Ln2);
        var decoderNll = -GaussianLosses.DiscretizedGaussianLogLikelihood(xStart, output.Mean, output.LogVariance.Times(0.5));
        decoderNll = GaussianLosses.MeanFlat(decoderNll).DividedBy(Ln2);
        var result = where(t.eq(TensorArithmetic.Zero), decoderNll, kl);
        return (result.MoveToOuterDisposeScope(), output.PredXStart.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Training losses for one timestep per example (reference: <c>training_losses</c>). Under an MSE loss with a
    /// learned variance the VLB term sees a detached mean, so it trains only the variance (L_hybrid); RescaledMse
    /// scales it by T/1000 and RescaledKl scales the bound by T.
    /// </summary>
    public LossTerms TrainingLosses(IDiffusionNetwork network, Tensor xStart, Tensor t, Tensor noise, Tensor? y = null)
    {
        using var scope = NewDisposeScope();
        var xT = QSample(xStart, t, noise);
        if (LossType is LossType.Kl or LossType.RescaledKl)
        {
            var output = RunNetwork(network, xT, t, y);
            var loss = VbTermsBpd(output, xStart, xT, t, clipDenoised: false).Output;
            if (LossType == LossType.RescaledKl) loss = loss.Times(NumTimesteps);
            return new LossTerms(loss.MoveToOuterDisposeScope(), null, null);
        }

        var modelOutput = RunNetwork(network, xT, t, y);
        Tensor? vb = null;
        if (LearnsVariance)
        {
            var halves = modelOutput.split(xT.shape[1], 1);
            modelOutput = halves[0];
            var frozen = cat([halves[0].detach(), halves[1]], 1);
            vb = VbTermsBpd(frozen, xStart, xT, t, clipDenoised: false).Output;
            if (LossType == LossType.RescaledMse) vb = vb.Times(NumTimesteps / 1000.0);
        }
        var target = MeanType switch
        {
            ModelMeanType.PreviousX => QPosteriorMeanVariance(xStart, xT, t).Mean,
            ModelMeanType.StartX => xStart,
            _ => noise,
        };
        RequireSameShape(target, modelOutput, "network output");
        var mse = GaussianLosses.MeanFlat((target - modelOutput).Power(2));
        var total = vb is null ? mse : mse.Plus(vb);
        return new LossTerms(total.MoveToOuterDisposeScope(), mse.MoveToOuterDisposeScope(), vb?.MoveToOuterDisposeScope());
    }

    /// <summary>The prior term KL(q(x_T | x_0) ‖ N(0, I)) in bits per dimension (reference: <c>_prior_bpd</c>).</summary>
    public Tensor PriorBpd(Tensor xStart)
    {
        using var scope = NewDisposeScope();
        using var last = (NumTimesteps - 1).ToScalar();
        var t = full(xStart.shape[0], last, ScalarType.Int64, xStart.device);
        var q = QMeanVariance(xStart, t);
        return (GaussianLosses.MeanFlat(GaussianLosses.NormalKlToStandard(q.Mean, q.LogVariance)).DividedBy(Ln2)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The whole variational bound in bits per dimension and its per-step terms (reference: <c>calc_bpd_loop</c>):
    /// for t from T−1 down to 0, one noise draw, x_t ~ q(x_t | x_0), the VLB term and the x_0 and ε errors. The
    /// per-step columns are in that visiting order (column 0 is t = T − 1), as the reference returns them.
    /// </summary>
    public BpdTerms CalcBpdLoop(IDiffusionNetwork network, Tensor xStart, INoiseSource noise, bool clipDenoised = true, Tensor? y = null, IProgress<int>? progress = null)
    {
        using var gradients = no_grad();
        using var scope = NewDisposeScope();
        var batch = xStart.shape[0];
        var vb = new Tensor[NumTimesteps];
        var xStartMse = new Tensor[NumTimesteps];
        var mse = new Tensor[NumTimesteps];
        for (var i = NumTimesteps - 1; i >= 0; i--)
        {
            using var stepScope = NewDisposeScope();
            using var step = i.ToScalar();
            var t = full(batch, step, ScalarType.Int64, xStart.device);
            var draw = noise.Next(xStart.shape).to(xStart.device);
            var xT = QSample(xStart, t, draw);
            var (term, predXStart) = VbTermsBpd(RunNetwork(network, xT, t, y), xStart, xT, t, clipDenoised);
            var column = NumTimesteps - 1 - i;
            vb[column] = term.MoveToOuterDisposeScope();
            xStartMse[column] = GaussianLosses.MeanFlat((predXStart - xStart).Power(2)).MoveToOuterDisposeScope();
            var eps = PredictEpsFromXStart(xT, t, predXStart);
            mse[column] = GaussianLosses.MeanFlat((eps - draw).Power(2)).MoveToOuterDisposeScope();
            progress?.Report(NumTimesteps - i);
        }
        var vbAll = stack(vb, 1);
        var prior = PriorBpd(xStart);
        var total = vbAll.sum(1).Plus(prior);
        return new BpdTerms(total.MoveToOuterDisposeScope(), prior.MoveToOuterDisposeScope(), vbAll.MoveToOuterDisposeScope(),
            stack(xStartMse, 1).MoveToOuterDisposeScope(), stack(mse, 1).MoveToOuterDisposeScope());
    }

    // ---- Helpers ---------------------------------------------------------------------------------------------------

    /// <summary>table[t] gathered in float64, cast to float32, shaped [N, 1, …] and broadcast (reference: <c>_extract_into_tensor</c>).</summary>
    Tensor Extract(Table table, Tensor t, long[] shape)
    {
        using var scope = NewDisposeScope();
        var values = deviceTables.Get(table, t.device).index_select(0, t).to(ScalarType.Float32);
        var view = new long[shape.Length];
        Array.Fill(view, 1L);
        view[0] = t.shape[0];
        return values.view(view).expand(shape).MoveToOuterDisposeScope();
    }

    static Tensor NonZeroMask(Tensor t, Tensor x)
    {
        var view = new long[x.dim()];
        Array.Fill(view, 1L);
        view[0] = -1;
        return t.ne(TensorArithmetic.Zero).to(ScalarType.Float32).view(view);
    }

    static MeanVariance MoveOut(MeanVariance m) => new(
        m.Mean.MoveToOuterDisposeScope(), m.Variance.MoveToOuterDisposeScope(),
        m.LogVariance.MoveToOuterDisposeScope(), m.PredXStart.MoveToOuterDisposeScope());

    static void RequireSameShape(Tensor expected, Tensor actual, string what)
    {
        if (!expected.shape.SequenceEqual(actual.shape))
            throw new ArgumentException($"{what} has shape [{string.Join(",", actual.shape)}], expected [{string.Join(",", expected.shape)}]");
    }
}
