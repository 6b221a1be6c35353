using System.Reflection;
using ImprovedDdpm.Tests.Support;

namespace ImprovedDdpm.Tests.Reliability;

/// <summary>
/// Keeps build/Analyzers/UnsafeTorchSharpMembers.txt true to the TorchSharp this repository references: the public
/// members whose IL makes a Scalar with an implicit conversion (never disposed), or with <c>ToScalar()</c> in a body that
/// disposes nothing, directly or through any TorchSharp method (or lambda) they call. The analyzer reports calls to
/// them. After a TorchSharp upgrade, review the change and accept it with IMPROVED_DDPM_ACCEPT_SNAPSHOTS=1.
/// </summary>
public sealed class TorchSharpScalarScanTests
{
    const BindingFlags Declared = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.Instance | BindingFlags.DeclaredOnly;

    [Fact]
    public void The_analyzers_list_matches_the_referenced_TorchSharp()
    {
        var path = Path.Combine(RepositoryFixtures.RepositoryRoot, "build", "Analyzers", "UnsafeTorchSharpMembers.txt");
        var lines = File.ReadAllLines(path);
        var header = lines.TakeWhile(l => l.StartsWith('#')).ToList();
        var listed = lines.Skip(header.Count).ToList();
        var scanned = Scan(typeof(TorchSharp.torch).Assembly);

        // The members this project's code is known to meet must be among them, or the scan is broken.
        Assert.Contains("TorchSharp.torch+Tensor.op_Addition(Tensor, Tensor)", scanned);
        Assert.Contains("TorchSharp.torch+Tensor.op_Multiply(Tensor, Double)", scanned);
        Assert.Contains("TorchSharp.Modules.AdamW.step(Func`1)", scanned);
        Assert.DoesNotContain("TorchSharp.torch+Tensor.op_Multiply(Tensor, Tensor)", scanned);
        if (Environment.GetEnvironmentVariable("IMPROVED_DDPM_ACCEPT_SNAPSHOTS") == "1")
        {
            File.WriteAllLines(path, header.Concat(scanned));
            return;
        }
        var missing = scanned.Except(listed).ToList();
        var stale = listed.Except(scanned).ToList();
        Assert.True(missing.Count == 0 && stale.Count == 0,
            $"{path} is out of date. Not listed: {string.Join("; ", missing.Take(20))}. Listed but safe now: {string.Join("; ", stale.Take(20))}");
    }

    static List<string> Scan(Assembly assembly)
    {
        Type[] types;
        try
        {
            types = assembly.GetTypes();
        }
        catch (ReflectionTypeLoadException e)
        {
            types = e.Types.OfType<Type>().ToArray();
        }
        var callees = new Dictionary<MethodBase, List<MethodBase>>();
        var makesTemporary = new HashSet<MethodBase>();
        foreach (var type in types)
        {
            foreach (var method in type.GetMethods(Declared).Cast<MethodBase>().Concat(type.GetConstructors(Declared)))
            {
                var (calls, temporary) = Calls(method);
                callees[method] = calls;
                if (temporary) makesTemporary.Add(method);
            }
        }
        // Whatever calls (or makes a delegate of) such a member makes one too.
        for (var changed = true; changed;)
        {
            changed = false;
            foreach (var (method, calls) in callees)
            {
                if (!makesTemporary.Contains(method) && calls.Any(makesTemporary.Contains)) changed = makesTemporary.Add(method);
            }
        }
        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var method in makesTemporary)
        {
            if (!method.IsPublic || method.DeclaringType is not { } declaring || !(declaring.IsPublic || declaring.IsNestedPublic)) continue;
            if (declaring.FullName is "TorchSharp.Scalar" || declaring.Name == "ScalarExtensionMethods") continue;
            try
            {
                names.Add($"{declaring.FullName}.{method.Name}({string.Join(", ", method.GetParameters().Select(p => p.ParameterType.Name))})");
            }
            catch (FileNotFoundException)
            {
                // A parameter type from an assembly that is not deployed (TorchSharp's optional dependencies): unusable here.
            }
        }
        return names.ToList();
    }

    /// <summary>The TorchSharp methods <paramref name="method"/> calls or takes as delegates, and whether it makes a temporary Scalar itself.</summary>
    static (List<MethodBase> Calls, bool MakesTemporary) Calls(MethodBase method)
    {
        byte[] il;
        try
        {
            il = method.GetMethodBody()?.GetILAsByteArray() ?? [];
        }
        catch (Exception e) when (e is FileNotFoundException or BadImageFormatException or TypeLoadException)
        {
            return ([], false);
        }
        var calls = new List<MethodBase>();
        bool implicitConversion = false, toScalar = false, disposes = false;
        for (var i = 0; i + 4 < il.Length; i++)
        {
            int token;
            if (il[i] is 0x28 or 0x6F or 0x73) token = BitConverter.ToInt32(il, i + 1); // call, callvirt, newobj
            else if (il[i] == 0xFE && il[i + 1] is 0x06 or 0x07 && i + 5 < il.Length) token = BitConverter.ToInt32(il, i + 2); // ldftn, ldvirtftn
            else continue;
            if ((token >> 24) is not (0x0A or 0x06 or 0x2B)) continue; // MemberRef, MethodDef, MethodSpec
            MethodBase? callee;
            try
            {
                callee = method.Module.ResolveMethod(token,
                    method.DeclaringType is { IsGenericType: true } t ? t.GetGenericArguments() : null,
                    method.IsGenericMethod ? method.GetGenericArguments() : null);
            }
            catch (Exception e) when (e is ArgumentException or FileNotFoundException or TypeLoadException or BadImageFormatException)
            {
                continue;
            }
            if (callee is null) continue;
            if (callee.DeclaringType?.FullName == "TorchSharp.Scalar" && callee.Name == "op_Implicit") implicitConversion = true;
            if (callee.Name == "ToScalar" && callee.DeclaringType?.Name == "ScalarExtensionMethods") toScalar = true;
            if (callee.Name == "Dispose") disposes = true;
            if (callee.Module == method.Module) calls.Add(callee is MethodInfo { IsGenericMethod: true } generic ? generic.GetGenericMethodDefinition() : callee);
        }
        return (calls, implicitConversion || (toScalar && !disposes));
    }
}
