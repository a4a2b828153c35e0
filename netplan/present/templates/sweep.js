// netplan's own drawing script for sweep.html: it reads the JSON block and writes
// only via textContent and numeric SVG attributes; a point's link is the page's fixed
// pattern with the point's label URL-encoded.
(function(){
const D=JSON.parse(document.getElementById("sweep-data").textContent);
const NS="http://www.w3.org/2000/svg";
const col=n=>D.columns.indexOf(n);
const rows=D.rows.filter(r=>r[col("ok")]);
const W=420,H=300,L=60,R=15,T=15,B=45;
function el(t,a){const e=document.createElementNS(NS,t);for(const k in a)e.setAttribute(k,a[k]);return e;}
function sc(n,v){return v===null?null:v*(D.scale[n]||1);}
function ext(vs){let lo=Math.min(...vs),hi=Math.max(...vs);if(lo===hi){lo-=1;hi+=1;}const p=(hi-lo)*0.06;return[lo-p,hi+p];}
function chart(xn,yn,front,series){
  const pts=rows.map(r=>({x:sc(xn,r[col(xn)]),y:sc(yn,r[col(yn)]),r:r})).filter(p=>typeof p.x==="number"&&typeof p.y==="number");
  const fig=document.createElement("figure");
  const svg=el("svg",{width:W,height:H,viewBox:"0 0 "+W+" "+H,role:"img"});
  if(pts.length){
    const [x0,x1]=ext(pts.map(p=>p.x)),[y0,y1]=ext(pts.map(p=>p.y));
    const X=v=>L+(v-x0)/(x1-x0)*(W-L-R),Y=v=>H-B-(v-y0)/(y1-y0)*(H-T-B);
    svg.appendChild(el("line",{x1:L,y1:H-B,x2:W-R,y2:H-B,stroke:"#888"}));
    svg.appendChild(el("line",{x1:L,y1:T,x2:L,y2:H-B,stroke:"#888"}));
    for(let k=0;k<=4;k++){
      const xv=x0+(x1-x0)*k/4,yv=y0+(y1-y0)*k/4;
      const tx=el("text",{x:X(xv),y:H-B+14,"text-anchor":"middle"});tx.textContent=+xv.toPrecision(3);svg.appendChild(tx);
      const ty=el("text",{x:L-4,y:Y(yv)+4,"text-anchor":"end"});ty.textContent=+yv.toPrecision(3);svg.appendChild(ty);
    }
    const groups=new Map();
    for(const p of pts){const g=series?String(p.r[col(series)]):"";if(!groups.has(g))groups.set(g,[]);groups.get(g).push(p);}
    const colours=["#1f77b4","#d62728","#2ca02c","#9467bd","#ff7f0e","#8c564b"];
    let gi=0;
    for(const [g,ps] of groups){
      const c=colours[gi++%colours.length];
      const line=front?ps.filter(p=>p.r[col(front)]):ps;
      line.sort((a,b)=>a.x-b.x);
      if(line.length>1)svg.appendChild(el("polyline",{points:line.map(p=>X(p.x)+","+Y(p.y)).join(" "),fill:"none",stroke:c,"stroke-width":1.5}));
      for(const p of ps){
        const eff=p.r[col(front||"efficient")];
        const dot=el("circle",{class:"pt",cx:X(p.x),cy:Y(p.y),r:eff?6:4,fill:eff?c:"#fff",stroke:c,"stroke-width":2});
        const tip=el("title",{});
        tip.textContent=D.columns.map((n,i)=>n+": "+p.r[i]).join("\n");
        dot.appendChild(tip);
        if(D.href){const label=String(p.r[col("point")]);dot.addEventListener("click",()=>window.open(D.href.replace("{point}",encodeURIComponent(label)),"_blank","noopener"));}
        svg.appendChild(dot);
      }
      if(series){const t=el("text",{x:W-R,y:T+12*gi,"text-anchor":"end",fill:c});t.textContent=series+" = "+g;svg.appendChild(t);}
    }
  }
  const xl=el("text",{x:(L+W-R)/2,y:H-8,"text-anchor":"middle"});xl.textContent=D.labels[xn]||xn;svg.appendChild(xl);
  fig.appendChild(svg);
  const cap=document.createElement("figcaption");cap.textContent=(D.labels[yn]||yn)+" against "+(D.labels[xn]||xn);
  fig.appendChild(cap);
  return fig;
}
const box=document.getElementById("charts");
for(const k of D.kpis)box.appendChild(chart("cost_cny_per_year",k,"efficient_"+k,null));
if(D.axes.length){const a=D.axes[0],s=D.axes.length>1?D.axes[1]:null;
  if(rows.some(r=>typeof r[col(a)]==="number"))for(const k of D.kpis)box.appendChild(chart(a,k,null,s));}
})();
